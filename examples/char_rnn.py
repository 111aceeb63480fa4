"""Char-RNN: two stacked LSTMs of 256 learn a text one character at a time, then write some.

    python examples/char_rnn.py                     # the Python standard library's own source
    python examples/char_rnn.py --text FILE --epochs 10 --save rnn.pt
    python examples/char_rnn.py --load rnn.pt --epochs 0 --sample 500
    torchrun --nproc_per_node=2 examples/char_rnn.py --ddp

As the seed: the text is cut into 50 streams (``chunk``), each stream into 50-character
``sequences``, and ``batches`` puts the streams side by side, so batch ``i + 1``
continues batch ``i`` and the unrolled model carries its state across them.  Ends
with a sample drawn with a temperature from ``unroll1(model[:-1])`` and one line:
``validation loss: 1.9xxx nats/char``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from _common import loss_curves, parser, plot, start
from fluxtorch import (
    LSTM, Affine, Chain, Input, batches, chunk, logloss, sequences, softmax, train, unroll, unroll1,
)

STDLIB = ("os.py", "argparse.py", "textwrap.py", "functools.py", "string.py", "shutil.py", "tempfile.py", "glob.py")


def default_corpus(chars: int) -> str:
    """Up to ``chars`` characters of the standard library's source: a text every Python has."""
    folder = Path(os.path.dirname(os.__file__))
    texts = [(folder / name).read_text(encoding="utf-8") for name in STDLIB if (folder / name).is_file()]
    return "\n".join(texts)[:chars]


def read_text(path: str, chars: int) -> str:
    """Up to ``chars`` characters of the UTF-8 file ``path``, or a one-line exit saying why not."""
    try:
        return Path(path).read_text(encoding="utf-8")[:chars]
    except (OSError, UnicodeDecodeError) as err:
        raise SystemExit(f"--text {path}: cannot read it as UTF-8 text ({type(err).__name__}). Fix: pass a UTF-8 text file.") from None


def read_checkpoint(path: str) -> dict:
    """What ``--save`` wrote to ``path``, or a one-line exit saying why it cannot be used."""
    try:
        checkpoint = torch.load(path, weights_only=True)
    except Exception as err:  # missing, truncated or not a torch file: all end the same way
        raise SystemExit(f"--load {path}: cannot read a checkpoint there ({type(err).__name__}). Fix: pass a file written by --save.") from None
    if not isinstance(checkpoint, dict) or not {"alphabet", "state"} <= set(checkpoint):
        raise SystemExit(f"--load {path}: not a char_rnn checkpoint (no alphabet and weights). Fix: pass a file written by --save.")
    return checkpoint


class OneHotBatches:
    """``(x, y)`` pairs: ``x`` one-hot ``(batch, n, N)`` made on the fly from index batches, ``y`` indices."""

    def __init__(self, xs: list[torch.Tensor], ys: list[torch.Tensor], n: int) -> None:
        self.xs, self.ys, self.n = xs, ys, n

    def __len__(self) -> int:
        return len(self.xs)

    def __iter__(self):
        for x, y in zip(self.xs, self.ys):
            yield F.one_hot(x, self.n).float(), y


def getbatches(codes: torch.Tensor, streams: int, length: int) -> list[torch.Tensor]:
    """The seed's ``batches(sequences(part, n) for part in chunk(text, nbatch))``: ``(streams, length)`` each."""
    return batches(*(sequences(part, length) for part in chunk(codes, streams)))


def sample(step: torch.nn.Module, alphabet: list[str], n: int, temperature: float, first: str) -> str:
    """``n`` characters drawn one at a time from ``step`` (logits), each fed back as the next input."""
    step.reset()
    out = [first]
    with torch.no_grad():
        for _ in range(n):
            x = F.one_hot(torch.tensor(alphabet.index(out[-1])), len(alphabet)).float()
            p = softmax(step(x) / temperature)
            out.append(alphabet[int(torch.multinomial(p, 1))])
    return "".join(out)


def main(argv: Sequence[str] | None = None) -> dict:
    p = parser(__doc__.splitlines()[0], epochs=5, plot="char_rnn.png")
    p.add_argument("--text", help="a UTF-8 text file to learn (default: Python standard library source)")
    p.add_argument("--chars", type=int, default=200_000, help="use at most this many characters (default 200,000)")
    p.add_argument("--hidden", type=int, default=256, help="LSTM size (default 256)")
    p.add_argument("--nunroll", type=int, default=50, help="time steps unrolled (default 50)")
    p.add_argument("--nbatch", type=int, default=50, help="streams side by side in a batch (default 50)")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam's learning rate (default 2e-3)")
    p.add_argument("--sample", type=int, default=300, help="characters to sample at the end (default 300)")
    p.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (default 0.7)")
    p.add_argument("--save", help="write a checkpoint (alphabet, --hidden and weights) here after training")
    p.add_argument("--load", help="start from a checkpoint written by --save (its alphabet and --hidden)")
    args = p.parse_args(argv)
    run = start(args)

    text = read_text(args.text, args.chars) if args.text else default_corpus(args.chars)
    checkpoint = read_checkpoint(args.load) if args.load else None
    alphabet = checkpoint["alphabet"] if checkpoint else sorted(set(text))
    if checkpoint and "hidden" in checkpoint:
        args.hidden = checkpoint["hidden"]  # the size it was trained with
    text = "".join(c for c in text if c in alphabet)
    N = len(alphabet)
    position = {c: i for i, c in enumerate(alphabet)}
    codes = torch.tensor([position[c] for c in text])
    cut = int(len(codes) * 0.9)  # the last 10% is held out for the validation loss
    train_codes = codes[:cut]
    if run.world > 1:  # each rank its own equal slice of the text
        share = len(train_codes) // run.world
        train_codes = train_codes[run.rank * share : (run.rank + 1) * share]
    if len(train_codes) <= args.nbatch * args.nunroll or len(codes) - cut <= args.nunroll:
        raise SystemExit(
            f"char_rnn: {len(text):,} characters are too few for {args.nbatch} streams of "
            f"{args.nunroll}-character sequences. Fix: a longer --text, more --chars, or smaller --nbatch/--nunroll."
        )
    Xs = getbatches(train_codes[:-1], args.nbatch, args.nunroll)
    Ys = getbatches(train_codes[1:], args.nbatch, args.nunroll)
    streams = max(1, min(args.nbatch, (len(codes) - cut - 1) // args.nunroll))
    Vx = getbatches(codes[cut:-1], streams, args.nunroll)
    Vy = getbatches(codes[cut + 1 :], streams, args.nunroll)
    run.say(f"text: {len(text):,} characters ({args.text or 'Python standard library source'}), alphabet of {N}; "
            f"{len(Xs)} batches of {args.nbatch} x {args.nunroll}")

    model = Chain(Input(N), LSTM(N, args.hidden), LSTM(args.hidden, args.hidden), Affine(args.hidden, N), softmax)
    if checkpoint:
        shapes = {name: tuple(t.shape) for name, t in checkpoint["state"].items()}
        if shapes != {name: tuple(t.shape) for name, t in model.state_dict().items()}:
            raise SystemExit(
                f"--load {args.load}: its weights do not fit this model (LSTMs of {args.hidden}). "
                f"Fix: pass the --hidden it was trained with."
            )
        model.load_state_dict(checkpoint["state"])
    run.say(model)
    m = run.wrap(unroll(model, args.nunroll), find_unused_parameters=True)
    validate = unroll(model, args.nunroll)  # its own carried state, apart from training's
    val_loss: list[float] = []

    def evaluate(progress) -> None:
        if progress.epoch_end:
            validate.reset()
            with torch.no_grad():
                losses = [logloss(validate(F.one_hot(x, N).float().to(run.device)), y.to(run.device)).item() for x, y in zip(Vx, Vy)]
            val_loss.append(sum(losses) / len(losses))
            run.say(f"epoch {progress.epoch}: training loss {progress.loss:.3f}, validation loss {val_loss[-1]:.3f}")

    began = time.perf_counter()
    history = train(m, OneHotBatches(Xs, Ys, N), loss=logloss, opt=torch.optim.Adam, lr=args.lr,
                    epochs=args.epochs, cb=evaluate, progress=args.progress)
    seconds = time.perf_counter() - began
    model.cpu()
    text_out = sample(unroll1(model[:-1]), alphabet, args.sample, args.temperature, first=text[cut])
    if not run.main:
        run.finish()
        return {}
    print(f"sample (temperature {args.temperature}):\n{text_out}\n")
    if args.save:
        torch.save({"alphabet": alphabet, "hidden": args.hidden, "state": model.state_dict()}, args.save)
        print(f"checkpoint: {args.save}")
    if args.epochs:
        epochs = list(range(1, args.epochs + 1))
        plotted = plot(args.plot, f"char-RNN: LSTM({args.hidden}) x 2, logloss", {
            "loss (nats/char)": {**loss_curves(history), "validation": (epochs, val_loss)},
        })
        print(f"{args.epochs} epoch{'s' if args.epochs != 1 else ''} in {seconds:.1f} s; {plotted}")
        final = val_loss[-1]
    else:
        with torch.no_grad():
            final = sum(logloss(validate(F.one_hot(x, N).float()), y).item() for x, y in zip(Vx, Vy)) / len(Vx)
    print(f"validation loss: {final:.4f} nats/char")
    run.finish()
    return {"validation_loss": final, "val_losses": val_loss, "history": history, "sample": text_out, "seconds": seconds}


if __name__ == "__main__":
    main()
