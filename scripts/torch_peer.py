#!/usr/bin/python3
"""The peer that `make bench` compares ssmsim's integer evaluation with: a PyTorch fake-quantized
recurrent evaluation of the same shapes, as a PyTorch user would write it (issue 15).

Every activation point, the state and the weights go through torch.fake_quantize_per_tensor_affine
at the widths given; the dense layers run on all steps at once, and
the diagonal recurrence x_t = fq(Lambda_bar x_{t-1} + fq(B u_t)) steps through time with its C x_t
(a batched product per step; keeping every step's state for one product is memory-bound). The weights
and inputs are random (seeded): this measures time, not accuracy. Prints one line per run:
`torch <device> <threads> threads: <model>, <n> sequences of <L> steps in <s> s`.

Usage: scripts/torch_peer.py --model s4d_edge|s5_qs5 [--n 10000] [--device cpu|cuda] [--threads 2]
       [--batch 0] [--bits 8] [--state-bits 16] [--repeat 3]
"""
import argparse
import sys
import time

try:
    import torch
except ImportError:
    sys.exit("torch_peer: PyTorch is not installed: run `apt-get install python3-torch` (Debian's CPU build)")

# Shapes of ssmsim's presets (configs/models/): channels, complex states per SSM, layers, norm
# placement and mixing.
MODELS = {
    "s4d_edge": dict(H=16, states=32, layers=1, s5=False, prenorm=False, d_in=1, classes=10),
    "s5_qs5": dict(H=96, states=64, layers=4, s5=True, prenorm=True, d_in=1, classes=10),
}


def fq(x, bits, scale):
    q = 2 ** (bits - 1)
    return torch.fake_quantize_per_tensor_affine(x, scale, 0, -q, q - 1)


def cfq(z, bits, scale):  # a complex tensor, each part on the same grid (one op on its real view)
    return torch.view_as_complex(fq(torch.view_as_real(z), bits, scale))


class Peer:
    def __init__(self, m, bits, state_bits, device, gen):
        H, P = m["H"], m["states"]
        self.m, self.bits, self.sb = m, bits, state_bits

        def rnd(*shape, scale=1.0):
            return (torch.randn(*shape, generator=gen) * scale).to(device)

        def cw(*shape, scale):  # a complex weight, fake-quantized once (weights are static)
            return cfq(torch.complex(rnd(*shape, scale=scale), rnd(*shape, scale=scale)), bits, scale / 32)

        self.enc = fq(rnd(H, m["d_in"], scale=0.5), bits, 0.01)
        self.dec = fq(rnd(m["classes"], H, scale=0.3), bits, 0.01)
        self.layers = []
        for _ in range(m["layers"]):
            radius = 1 - torch.rand(P if m["s5"] else (H, P), generator=gen) * 0.05
            angle = torch.rand(P if m["s5"] else (H, P), generator=gen) * 3.14
            lam = torch.polar(radius, angle).to(device)
            self.layers.append(dict(
                lam=cfq(lam, bits, 1 / 128),
                B=cw(P, H, scale=0.1) if m["s5"] else cw(H, P, scale=0.1),
                C=cw(H, P, scale=0.1),
                D=fq(rnd(H, scale=0.1), bits, 0.001),
                W=fq(rnd(2 * H, H, scale=0.2), bits, 0.002),
                g=torch.ones(H, device=device), b=torch.zeros(H, device=device)))

    def ssm(self, L, u):  # u: [n, T, H] -> y [n, T, H]
        s5 = self.m["s5"]
        uc = u.to(torch.complex64)
        x = torch.zeros(u.shape[0], *L["lam"].shape, dtype=torch.complex64, device=u.device)
        y = torch.empty_like(u)
        for t in range(u.shape[1]):  # the recurrence: one fake-quantized state per step
            bu = cfq(uc[:, t] @ L["B"].T if s5 else uc[:, t, :, None] * L["B"], 16, 1e-3)
            x = cfq(L["lam"] * x + bu, self.sb, 2.0 ** -(self.sb - 6))
            o = cfq(x, self.bits, 1 / 16)  # the state operand of C x
            y[:, t] = 2 * (o @ L["C"].T if s5 else (o * L["C"]).sum(-1)).real
        return fq(y + L["D"] * u, self.bits, 0.05)

    def layer(self, L, h):
        bits = self.bits
        norm = lambda v: fq(torch.nn.functional.layer_norm(v, v.shape[-1:], L["g"], L["b"]), bits, 0.05)
        u = norm(h) if self.m["prenorm"] else fq(h, bits, 0.05)
        a = fq(torch.nn.functional.gelu(self.ssm(L, u)), bits, 0.05)
        v, gate = (a @ L["W"].T).chunk(2, dim=-1)
        g = fq(fq(v, bits, 0.05) * fq(torch.sigmoid(gate), bits, 1 / 128), bits, 0.05)
        res = fq(g + h, 16, 1e-3)
        return res if self.m["prenorm"] else norm(res)

    @torch.no_grad()
    def __call__(self, x):  # x: [n, T, d_in] -> logits [n, classes]
        h = fq(fq(x, self.bits, 1 / 128) @ self.enc.T, self.bits, 0.05)
        for L in self.layers:
            h = self.layer(L, h)
        return fq(h.mean(1), self.bits, 0.05) @ self.dec.T


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=sorted(MODELS), default="s4d_edge")
    ap.add_argument("--n", type=int, default=10000, help="sequences (sMNIST test set: 10000)")
    ap.add_argument("--steps", type=int, default=784)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    ap.add_argument("--batch", type=int, default=0, help="sequences per forward pass (0: 250 on a CPU, all on a GPU)")
    ap.add_argument("--bits", type=int, default=8)
    ap.add_argument("--state-bits", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=1, help="runs; the best is printed too")
    a = ap.parse_args()
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("torch_peer: --device cuda but PyTorch sees no GPU; use --device cpu")
    torch.set_num_threads(a.threads)
    if a.batch <= 0:
        a.batch = a.n if a.device.startswith("cuda") else 250
    gen = torch.Generator().manual_seed(1)
    m = MODELS[a.model]
    peer = Peer(m, a.bits, a.state_bits, a.device, gen)
    x = torch.rand(a.n, a.steps, m["d_in"], generator=gen).to(a.device)
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)
    times = []
    for r in range(a.repeat):
        sync()
        start = time.perf_counter()
        for i in range(0, a.n, a.batch):
            peer(x[i:i + a.batch]).argmax(-1)
            print(f"\r  torch_peer run {r + 1}: {min(i + a.batch, a.n)}/{a.n} sequences", end="", file=sys.stderr)
        sync()
        times.append(time.perf_counter() - start)
        print(file=sys.stderr)
    dev = torch.cuda.get_device_name() if a.device.startswith("cuda") else "cpu"
    print(f"torch {torch.__version__} {dev} {a.threads} threads: {a.model}, {a.n} sequences of {a.steps} steps in "
          f"{min(times):.2f} s (best of {len(times)}: {', '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()
