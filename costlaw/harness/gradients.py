"""Per-example LoRA gradients in batches, Adam preconditioning and random projection (LESS-style features).

One batched forward, one ``torch.autograd.grad`` to the outputs of every LoRA matrix, then each example's weight
gradient as an outer product of its activations and output gradients summed over its tokens
(``einsum('bto,bti->boi')``). That replaces LESS's one-backward-per-example loop, which is kept here as
:func:`per_example_gradients_loop`, the reference the benchmark and the tests compare against.
"""
from __future__ import annotations

import numpy as np

from .batches import collate, encode, length_buckets, lengths
from .flops import PhaseMeter
from .models import model_shape


def lora_modules(model) -> list:
    """(name, nn.Linear) of every LoRA A and B matrix, in a fixed order (the feature layout)."""
    import torch

    return [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and ".lora_" in n]


def gradient_dims(model) -> int:
    """Dimensions of one example's LoRA gradient (count)."""
    return sum(m.weight.numel() for _, m in lora_modules(model))


def _per_example_loss(model, batch):
    import torch

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
    target = batch["labels"][:, 1:]
    valid = target != -100
    logp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return -(logp * valid).sum(1) / valid.sum(1).clamp(min=1)


def batch_gradients(model, batch):
    """(batch, gradient_dims) per-example gradients of each example's mean response loss w.r.t. LoRA weights."""
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
    feats = [torch.einsum("bto,bti->boi", g, inputs[n].detach()).flatten(1) for n, g in zip(names, grads_out)]
    return torch.cat(feats, 1)


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
        avg.append(st["exp_avg"].detach().flatten().clone())
        sq.append(st["exp_avg_sq"].detach().flatten().clone())
    return torch.cat(avg), torch.cat(sq)


def adam_precondition(grads, state, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
    """LESS's Adam direction for training examples: one Adam moment update from the checkpoint's state."""
    import torch

    avg, sq = state
    m = beta1 * avg + (1 - beta1) * grads
    v = beta2 * sq + (1 - beta2) * grads * grads
    return m / torch.sqrt(v + eps)


class Projector:
    """A seeded Gaussian random projection from ``dims`` to ``projection_dims`` (entries N(0, 1/projection_dims)).

    The matrix is generated once in row blocks (no dense float64 temporaries) and reused for every checkpoint.
    """

    def __init__(self, dims: int, projection_dims: int, seed: int = 0, device="cpu"):
        import torch

        gen = torch.Generator().manual_seed(seed)
        blocks = [torch.randn(min(4096, dims - i), projection_dims, generator=gen) for i in range(0, dims, 4096)]
        self.matrix = (torch.cat(blocks) / projection_dims ** 0.5).to(device)
        self.dims, self.projection_dims = dims, projection_dims

    def flops(self, n_examples: int) -> float:
        """2 x dims x projection_dims per example (the LESSCost projection term)."""
        return 2.0 * self.dims * self.projection_dims * n_examples

    def __call__(self, grads):
        return grads @ self.matrix


def projected_gradients(model, tokenizer, examples, projector: Projector, batch_size: int = 32,
                        adam=None, grad_meter: PhaseMeter | None = None, proj_meter: PhaseMeter | None = None,
                        progress=None) -> np.ndarray:
    """(examples, projection_dims) unit-norm projected per-example LoRA gradients (Adam direction if ``adam``)."""
    import torch

    encoded = encode(tokenizer, examples)
    token_lengths = lengths(encoded)
    shape = model_shape(model)
    out = np.zeros((len(encoded), projector.projection_dims), dtype=np.float32)
    device = next(model.parameters()).device
    projector.matrix = projector.matrix.to(device)
    for idx in length_buckets(token_lengths, batch_size):
        batch = {k: v.to(device) for k, v in collate([encoded[i] for i in idx], tokenizer.pad_token_id).items()}
        key = tuple(batch["input_ids"].shape)
        grads = grad_meter.step(key, lambda: batch_gradients(model, batch),
                                shape.per_example_gradient_flops(token_lengths[idx])) \
            if grad_meter else batch_gradients(model, batch)
        with torch.no_grad():
            if adam is not None:
                grads = adam_precondition(grads, tuple(t.to(device) for t in adam))
            proj = proj_meter.step(len(idx), lambda: projector(grads), projector.flops(len(idx))) \
                if proj_meter else projector(grads)
            proj = torch.nn.functional.normalize(proj, dim=1)
        out[idx] = proj.cpu().numpy()
        if progress is not None:
            progress.update(len(idx))
    return out
