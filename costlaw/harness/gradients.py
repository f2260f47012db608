"""Per-example gradients in memory-bounded micro-batches, Adam preconditioning and random projection (LESS).

One batched forward, one ``torch.autograd.grad`` to the outputs of every LoRA matrix, then each example's weight
gradient as an outer product of its activations and output gradients summed over its tokens
(``einsum('bto,bti->boi')``). That replaces LESS's one-backward-per-example loop, which is kept here as
:func:`per_example_gradients_loop`, the reference the benchmark and the tests compare against. The loss's
log-softmax is taken at response positions only.

Memory: per-example gradients are computed ``micro_batch_size`` examples at a time, chosen so that
examples x gradient dims x 4 bytes stays within ``gradient_memory_bytes``; the Adam direction and the projection
are applied module by module. The :class:`Projector` never holds a (gradient dims x projection dims) matrix
beyond its ``cache_bytes`` budget: it generates its random matrix in row chunks from a seed, on the fly (TRAK's
fast_jl idea), or uses a sparse projection (each gradient dim added with a random sign to one random output).
"""
from __future__ import annotations

import numpy as np

from .batches import as_encoder, collate, length_buckets, lengths
from .distributed import gather_meter, process_state, sharded_map
from .flops import PhaseMeter
from .models import model_shape

PROJECTIONS = ("rademacher", "gaussian", "sparse")


def lora_modules(model) -> list:
    """(name, nn.Linear) of every LoRA A and B matrix, in a fixed order (the feature layout)."""
    import torch

    return [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and ".lora_" in n]


def gradient_dims(model) -> int:
    """Dimensions of one example's LoRA gradient (count)."""
    return sum(m.weight.numel() for _, m in lora_modules(model))


def _per_example_loss(model, batch):
    """Each example's mean NLL over its labelled tokens (log-softmax at those positions only)."""
    import torch

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
    target = batch["labels"][:, 1:]
    valid = target != -100
    picked = logits[:, :-1][valid].float()
    nll = torch.logsumexp(picked, -1) - picked.gather(1, target[valid].unsqueeze(1)).squeeze(1)
    rows = valid.nonzero()[:, 0]
    sums = torch.zeros(target.shape[0], device=logits.device, dtype=nll.dtype).index_add(0, rows, nll)
    return sums / valid.sum(1).clamp(min=1)


def module_gradients(model, batch) -> list:
    """Per-example gradients of each example's mean response loss, one (batch, dims_m) tensor per LoRA matrix."""
    import torch

    modules = lora_modules(model)
    inputs, outputs = {}, {}
    hooks = []
    for name, mod in modules:
        def hook(m, args, out, name=name):
            inputs[name], outputs[name] = args[0], out
        hooks.append(mod.register_forward_hook(hook))
    try:
        loss = _per_example_loss(model, batch).sum()
    finally:
        for h in hooks:
            h.remove()
    names = [n for n, _ in modules]
    grads_out = torch.autograd.grad(loss, [outputs[n] for n in names])
    return [torch.einsum("bto,bti->boi", g.float(), inputs[n].detach().float()).flatten(1)
            for n, g in zip(names, grads_out)]


def batch_gradients(model, batch):
    """(batch, gradient_dims) per-example gradients of each example's mean response loss w.r.t. LoRA weights."""
    import torch

    return torch.cat(module_gradients(model, batch), 1)


def per_example_gradients_loop(model, batch):
    """The reference: one backward per example (batch size 1, as LESS does); same output as batch_gradients."""
    import torch

    params = [m.weight for _, m in lora_modules(model)]
    rows = []
    for i in range(batch["input_ids"].shape[0]):
        n = int(batch["attention_mask"][i].sum())
        one = {k: v[i:i + 1, :n] for k, v in batch.items()}
        loss = _per_example_loss(model, one).sum()
        rows.append(torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)]))
    return torch.stack(rows)


def adam_state(model, optimizer):
    """(exp_avg, exp_avg_sq) of the LoRA weights, flattened in the feature layout (None if no state yet)."""
    import torch

    avg, sq = [], []
    for _, m in lora_modules(model):
        st = optimizer.state.get(m.weight, {})
        if "exp_avg" not in st:
            return None
        avg.append(st["exp_avg"].detach().flatten().float().cpu().clone())
        sq.append(st["exp_avg_sq"].detach().flatten().float().cpu().clone())
    return torch.cat(avg), torch.cat(sq)


def adam_precondition(grads, state, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
    """LESS's Adam direction for training examples: one Adam moment update from the checkpoint's state."""
    import torch

    avg, sq = state
    m = beta1 * avg + (1 - beta1) * grads
    v = beta2 * sq + (1 - beta2) * grads * grads
    return m / torch.sqrt(v + eps)


class Projector:
    """A seeded random projection from ``dims`` to ``projection_dims`` that never materialises a big matrix.

    ``kind``: ``rademacher`` (entries +-1/sqrt(projection_dims), TRAK's and LESS's), ``gaussian``
    (N(0, 1/projection_dims)) or ``sparse`` (each input dim goes, with a random sign, to one random output: a
    count sketch; inner products are preserved in expectation, O(dims) work per example instead of
    O(dims x projection_dims)). The matrix is defined in row chunks of ``chunk_rows``, chunk c drawn from its own
    generator seeded by (seed, c), so any slice of the input can be projected alone (``offset``) and the result
    is the same however the input is split. Chunks are kept in memory only while they fit ``cache_bytes``;
    beyond that they are regenerated on every call (memory: one chunk). Peak memory is therefore
    min(matrix, cache_bytes) + one chunk, whatever dims x projection_dims is.
    """

    def __init__(self, dims: int, projection_dims: int, seed: int = 0, device="cpu", kind: str = "rademacher",
                 chunk_bytes: int = 64 << 20, cache_bytes: int = 512 << 20):
        if kind not in PROJECTIONS:
            raise ValueError(f"projection must be one of {', '.join(PROJECTIONS)}, got {kind!r}")
        self.dims, self.projection_dims, self.seed, self.kind = int(dims), int(projection_dims), int(seed), kind
        per_row = 5 if kind == "sparse" else 4 * self.projection_dims
        self.chunk_rows = max(1, min(self.dims, chunk_bytes // per_row))
        self.cache = (self.dims * per_row) <= cache_bytes
        self._chunks: dict = {}
        self.device = device

    @property
    def matrix_bytes(self) -> int:
        """Bytes a dense fp32 matrix of this projection would take (what is avoided)."""
        return 4 * self.dims * self.projection_dims

    def flops(self, n_examples: int, dims: int | None = None) -> float:
        """Matmul FLOPs: 2 x dims x projection_dims per example (0 for ``sparse``: additions, no matmul)."""
        if self.kind == "sparse":
            return 0.0
        return 2.0 * (self.dims if dims is None else dims) * self.projection_dims * n_examples

    def _chunk(self, c: int, device):
        import torch

        if (c, str(device)) in self._chunks:
            return self._chunks[(c, str(device))]
        rows = min(self.chunk_rows, self.dims - c * self.chunk_rows)
        gen = torch.Generator(device=device).manual_seed(self.seed * 1_000_003 + c)
        k = self.projection_dims
        if self.kind == "sparse":
            out = (torch.randint(0, k, (rows,), generator=gen, device=device),
                   torch.randint(0, 2, (rows,), generator=gen, device=device, dtype=torch.int8) * 2 - 1)
        elif self.kind == "rademacher":
            out = (torch.randint(0, 2, (rows, k), generator=gen, device=device, dtype=torch.int8) * 2 - 1)
            out = out.to(torch.float32) / k ** 0.5
        else:
            out = torch.randn(rows, k, generator=gen, device=device) / k ** 0.5
        if self.cache:
            self._chunks[(c, str(device))] = out
        return out

    def __call__(self, grads, offset: int = 0):
        """Project ``grads`` (examples, width), the input rows [offset, offset + width), to projection_dims."""
        import torch

        n, width = grads.shape
        out = torch.zeros(n, self.projection_dims, device=grads.device, dtype=torch.float32)
        grads = grads.float()
        end = offset + width
        c = offset // self.chunk_rows
        while c * self.chunk_rows < end:
            lo, hi = max(offset, c * self.chunk_rows), min(end, (c + 1) * self.chunk_rows)
            chunk = self._chunk(c, grads.device)
            part = grads[:, lo - offset:hi - offset]
            r0, r1 = lo - c * self.chunk_rows, hi - c * self.chunk_rows
            if self.kind == "sparse":
                bucket, sign = chunk
                out.index_add_(1, bucket[r0:r1], part * sign[r0:r1].to(part.dtype))
            else:
                out += part @ chunk[r0:r1]
            c += 1
        return out


def micro_batch_size(dims: int, budget_bytes: float, batch_size: int) -> int:
    """Examples per per-example-gradient micro-batch: examples x dims x 4 bytes x 2 (temporaries) <= budget."""
    return int(max(1, min(batch_size, budget_bytes // (8 * max(dims, 1)))))


def projected_gradients(model, tokenizer, examples, projector: Projector, batch_size: int = 32,
                        adam=None, grad_meter: PhaseMeter | None = None, proj_meter: PhaseMeter | None = None,
                        progress=None, gradient_memory_bytes: float = 1 << 30) -> np.ndarray:
    """(examples, projection_dims) unit-norm projected per-example LoRA gradients (Adam direction if ``adam``).

    Length buckets of at most ``batch_size`` examples are cut into micro-batches that fit
    ``gradient_memory_bytes``; under several processes the micro-batches are split between them and the
    features and FLOPs gathered (``model`` must be the same, unwrapped, on every process).
    """
    import torch

    from .precision import autocast

    enc = as_encoder(tokenizer)
    encoded = enc.encode(examples)
    token_lengths = lengths(encoded)
    shape = model_shape(model)
    state = process_state()
    device = state.device
    model.to(device)
    widths = [m.weight.numel() for _, m in lora_modules(model)]
    offsets = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(int)
    micro = micro_batch_size(sum(widths), gradient_memory_bytes, batch_size)
    pieces = [idx[i:i + micro] for idx in length_buckets(token_lengths, batch_size)
              for i in range(0, len(idx), micro)]
    adam = None if adam is None else tuple(t.to(device) for t in adam)

    def one(idx):
        batch = {k: v.to(device) for k, v in collate([encoded[i] for i in idx], enc.pad_token_id).items()}

        def grads_fn():
            with autocast(device):
                return module_gradients(model, batch)

        key = tuple(batch["input_ids"].shape)
        grads = grad_meter.step(key, grads_fn, shape.per_example_gradient_flops(token_lengths[idx])) \
            if grad_meter else grads_fn()

        def project():
            with torch.no_grad():
                total = None
                for g, off in zip(grads, offsets):
                    if adam is not None:
                        g = adam_precondition(g, (adam[0][off:off + g.shape[1]], adam[1][off:off + g.shape[1]]))
                    p = projector(g, int(off))
                    total = p if total is None else total + p
                return torch.nn.functional.normalize(total, dim=1)

        proj = proj_meter.step(("proj", len(idx)), project, projector.flops(len(idx))) if proj_meter else project()
        del grads
        if progress is not None:
            progress.update(len(idx))
        return idx, proj.cpu().numpy()

    out = np.zeros((len(encoded), projector.projection_dims), dtype=np.float32)
    for idx, feats in sharded_map(pieces, one, state):
        out[idx] = feats
    gather_meter(grad_meter, state)
    gather_meter(proj_meter, state)
    return out
