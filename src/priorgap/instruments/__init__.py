"""The study's instruments on any VAE's codes: measure (the bracket, each density, the sampler to
use instead of N(0,I)), encode (codes from any encoder), load_sampler, and the `priorgap measure`
command (docs/measure-your-own-vae.md)."""
