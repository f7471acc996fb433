"""Stage prepare: MNIST -> data/mnist/{train,val,test}.npz (uint8 images N x 28 x 28, labels).

    python stages/prepare.py data/raw data/mnist [--params params.yaml]

Reads params: data.val_size, data.seed, data.train_size.
"""


from priorgap.config import schema
from priorgap.tracking import stage_runs
from priorgap.config.cli import run_stage, stage_args
from priorgap.io.outputs import atomic_dir, write_json
from priorgap.data import mnist
from priorgap.data.files import write_split


def main(argv=None):
    args = stage_args(__doc__.splitlines()[0], ["raw_dir"], ["out_dir"], argv)
    data = schema.load(args.params, "data")
    train_idx, val_idx = mnist.split_indices(data.val_size, data.train_size, data.seed)
    arrays, source = mnist.load(args.raw_dir)  # inputs first: a bad one must not open an MLflow run

    with stage_runs.stage_run("prepare", schema.flat(data=data), args.params, tags={"data_source": source}) as run:
        x, y = arrays["train_images"], arrays["train_labels"]
        splits = {
            "train": (x[train_idx], y[train_idx]),
            "val": (x[val_idx], y[val_idx]),
            "test": (arrays["test_images"], arrays["test_labels"]),
        }
        meta = {
            "source": source,
            "sizes": {name: int(len(labels)) for name, (_, labels) in splits.items()},
            "md5": {fname: md5 for fname, md5 in mnist.FILES.values()},
        }
        with atomic_dir(args.out_dir) as tmp:
            for name, (images, labels) in splits.items():
                write_split(tmp, name, images, labels)
            write_json(tmp / "meta.json", meta)

        run.log_metrics({f"n_{name}": n for name, n in meta["sizes"].items()})
        run.log_artifact(args.out_dir / "meta.json")
        print(f"prepare: MNIST from {source}: " + ", ".join(f"{k} {v}" for k, v in meta["sizes"].items()))


if __name__ == "__main__":
    run_stage("prepare", main)
