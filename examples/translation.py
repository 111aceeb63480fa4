"""Translation with attention: the seed's encoder/decoder (after Bahdanau et al., 2014), written with ``@net``.

    python examples/translation.py               # trains until 95% of held-out words are right
    python examples/translation.py --length 8 --target 0.99

The toy language pair is generated on the fly: an English phrase of number words
(``three one four one five``) translates word by word into French, in reverse
order (``cinq un quatre un trois``), so every output word must attend to the right
input word.  The encoder reads the phrase both ways (an ``LSTM`` and a ``flip``ped
``LSTM``) into one annotation per word; at each output step the decoder scores every
annotation against its previous state, takes their softmax-weighted sum as context
and steps its own LSTM.  Ends with one line: ``held-out token accuracy: 0.9xxx``.
"""

from __future__ import annotations

import time
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from _common import loss_curves, parser, plot, start
from fluxtorch import LSTM, Affine, Model, State, accuracy, flip, logloss, net, softmax, stop, train, unroll

ENGLISH = "zero one two three four five six seven eight nine".split()
FRENCH = "zéro un deux trois quatre cinq six sept huit neuf".split()


@net
class Encoder:
    """A token → its annotation: what the phrase says around it, read forwards and backwards."""

    ahead: Model   # LSTM(V, H/2), reads left to right
    behind: Model  # flip(LSTM(V, H/2)), reads right to left

    def forward(self, token: Tensor) -> Tensor:
        return torch.cat([self.ahead(token), self.behind(token)], -1)  # (B, H)


@net
class Decoder:
    """One output step: attend over all annotations, step the LSTM, predict a word."""

    align: Model   # Affine(2H, 1): how well an annotation fits the previous state
    cell: Model    # LSTM(H, H)
    out: Model     # Affine(H, V)
    s: State       # the previous step's output, which the alignment reads

    def forward(self, tokens: Tensor) -> Tensor:
        annotations = tokens.unflatten(-1, (-1, self.s.shape[-1]))   # (B, n, H), the same every step
        s = self.s.unsqueeze(-2).expand_as(annotations)               # (B, n, H)
        weights = softmax(self.align(torch.cat([s, annotations], -1)).squeeze(-1))  # (B, n)
        context = (weights.unsqueeze(-1) * annotations).sum(-2)       # (B, H)
        self.s = self.cell(context)
        return softmax(self.out(self.s))                              # (B, V)


@net
class Translator:
    """Phrase ``(B, n, V)`` one-hot → translation ``(B, n, V)`` probabilities, one call per phrase."""

    encoder: Model  # unroll(Encoder(...), n, stateful=False)
    decoder: Model  # unroll(Decoder(...), n, seq=False, stateful=False)

    def forward(self, phrase: Tensor) -> Tensor:
        annotations = self.encoder(phrase)           # (B, n, H)
        return self.decoder(annotations.flatten(1))  # every step sees all n annotations


def build(n: int, hidden: int, vocab: int = len(ENGLISH)) -> Translator:
    encoder = Encoder(LSTM(vocab, hidden // 2), flip(LSTM(vocab, hidden // 2)))
    decoder = Decoder(Affine(2 * hidden, 1), LSTM(hidden, hidden), Affine(hidden, vocab), torch.zeros(hidden))
    return Translator(unroll(encoder, n, stateful=False), unroll(decoder, n, seq=False, stateful=False))


def phrases(count: int, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``count`` random English phrases (one-hot ``(count, n, V)``) and their translations (indices)."""
    words = torch.randint(0, len(ENGLISH), (count, n), generator=generator)
    return F.one_hot(words, len(ENGLISH)).float(), words.flip(1)  # French keeps the index, reverses order


class Phrases:
    """Fresh random phrase batches every epoch: the task is generated on the fly."""

    def __init__(self, batches: int, batch: int, n: int, seed: int) -> None:
        self.batches, self.batch, self.n = batches, batch, n
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.batches

    def __iter__(self):
        for _ in range(self.batches):
            yield phrases(self.batch, self.n, self.generator)


def translate(model: Translator, words: list[str]) -> list[str]:
    with torch.no_grad():
        x = F.one_hot(torch.tensor([ENGLISH.index(w) for w in words]), len(ENGLISH)).float()
        return [FRENCH[i] for i in model(x.unsqueeze(0))[0].argmax(-1).tolist()]


def main(argv: Sequence[str] | None = None) -> dict:
    p = parser(__doc__.splitlines()[0], epochs=40, plot="translation.png")
    p.add_argument("--length", type=int, default=6, help="words per phrase (default 6)")
    p.add_argument("--hidden", type=int, default=64, help="annotation and decoder size (default 64)")
    p.add_argument("--batch", type=int, default=32, help="phrases per batch (default 32)")
    p.add_argument("--steps", type=int, default=100, help="batches per epoch (default 100)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam's learning rate (default 1e-2)")
    p.add_argument("--target", type=float, default=0.95,
                   help="stop once this share of held-out words is right (default 0.95; --epochs caps it)")
    args = p.parse_args(argv)
    run = start(args)

    model = build(args.length, args.hidden)
    run.say(f"task: {args.length}-word English number phrases -> French, reversed; e.g. "
            f"'{' '.join(ENGLISH[i] for i in (3, 1, 4, 1, 5))}' -> '{' '.join(FRENCH[i] for i in (5, 1, 4, 1, 3))}'")
    run.say(f"{model!r}: {sum(p.numel() for p in model.parameters()):,} parameters")
    held_out = phrases(1000, args.length, torch.Generator().manual_seed(10_000 + args.seed))
    data = Phrases(args.steps, args.batch, args.length, seed=args.seed * 1000 + run.rank)
    net_ = run.wrap(model)
    scores: list[float] = []

    def evaluate(progress) -> None:  # after each epoch: held-out accuracy; stop at the target
        if progress.epoch_end:
            scores.append(accuracy(model, held_out))
            if scores[-1] >= args.target:
                stop()

    began = time.perf_counter()
    history = train(net_, data, loss=logloss, opt=torch.optim.Adam, lr=args.lr, epochs=args.epochs,
                    cb=evaluate, progress=args.progress)
    seconds = time.perf_counter() - began
    model.cpu()
    final = accuracy(model, held_out) if not scores else scores[-1]
    if run.main:
        example = [ENGLISH[i] for i in torch.randint(0, 10, (args.length,), generator=torch.Generator().manual_seed(7)).tolist()]
        print(f"{' '.join(example)} -> {' '.join(translate(model, example))}")
        epochs = list(range(1, len(scores) + 1))
        plotted = plot(args.plot, "attention translation (number words, reversed)", {
            "training loss (logloss)": loss_curves(history),
            "held-out token accuracy": {"held out": (epochs, scores)},
        })
        print(f"{len(scores)} epochs ({len(history):,} steps) in {seconds:.1f} s; {plotted}")
        print(f"held-out token accuracy: {final:.4f}")
    run.finish()
    return {"accuracy": final, "scores": scores, "history": history, "seconds": seconds}


if __name__ == "__main__":
    main()
