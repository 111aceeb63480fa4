"""Templates: ``@net`` turns a class of annotated fields and a ``forward`` into an ``nn.Module``.

A template declares what it holds (``Param`` tensors, ``Model`` sub-models, ``State``)
and one forward function; ``net`` writes the constructor, the ``nn.Parameter``
wrapping, the sub-module registration and the repr.  ``Affine``, the recurrent layers
and users' own layers are all written this way.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, overload

import numpy as np
from torch import Tensor, nn
from torch.utils.weak import WeakIdKeyDictionary

from fluxtorch._anonymous import AnonymousNet, anonymous_net
from fluxtorch._convert import at_edge, to_tensor
from fluxtorch._infer import InferringModule, _infer_on_call, _Uninferred, is_pending
from fluxtorch._naming import callable_name
from fluxtorch.debug._notes import annotate


class Param:
    """Field kind: a trainable tensor, stored as an ``nn.Parameter``.

    >>> @net
    ... class Scale:
    ...     s: Param
    ...     def forward(self, x):
    ...         return x * self.s
    >>> Scale([1.0, 2.0]).s
    Parameter containing:
    tensor([1., 2.], requires_grad=True)
    """


class Model:
    """Field kind: a sub-model, any callable; ``nn.Module`` ones are registered.

    >>> @net
    ... class Twice:
    ...     f: Model
    ...     def forward(self, x):
    ...         return self.f(self.f(x))
    >>> Twice(Affine(2, 2)), Twice(relu)
    (Twice(Affine(2 => 2)), Twice(relu))
    """


class State:
    """Field kind: recurrent state whose initial value is a trainable tensor.

    Inside a step ``self.y`` reads like a variable carried from step to step: it holds
    the previous step's value (Flux's ``y{-1}``) until the forward assigns this step's.
    Outside a forward call ``self.y`` is the initial state, an ``nn.Parameter``.

    >>> @net
    ... class Running:
    ...     y: State
    ...     def forward(self, x):
    ...         self.y = self.y + x
    ...         return self.y
    >>> unroll(Running(torch.zeros(1)), 3)(torch.ones(1, 3, 1)).flatten()
    tensor([1., 2., 3.], grad_fn=<ViewBackward0>)
    """


_KINDS = (Param, Model, State)
_EMPTY = inspect.Parameter.empty


@dataclass(frozen=True)
class Field:
    """One declared field of a template: its name, kind and default."""

    name: str
    kind: type
    default: Any = _EMPTY


class _TemplateMeta(type(nn.Module)):  # type: ignore[misc]
    """Dispatches ``T(args...)`` to a registered convenience constructor when one fits."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        for ctor in cls.__dict__.get("_constructors", ()):
            if _fits(ctor, args, kwargs):
                return ctor(*args, **kwargs)
        return super().__call__(*args, **kwargs)


def _fits(ctor: Callable[..., Any], args: tuple, kwargs: dict) -> bool:
    """True when ``args`` bind to ``ctor`` and match every class annotation it has."""
    sig = _signature(ctor)
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError:
        return False
    for name, value in bound.arguments.items():
        param = sig.parameters[name]
        if param.kind is param.VAR_POSITIONAL:  # *sizes: int checks every size
            values = value
        elif param.kind is param.VAR_KEYWORD:
            values = value.values()
        else:
            values = (value,)
        if not all(_matches(v, param.annotation) for v in values):
            return False
    return True


def _shown_call(cls: type, ctor: Callable[..., Any]) -> str:
    """How a convenience constructor is called, for error messages: ``Affine(in_: int, out: int, *, init=...)``."""
    params, starred = [], False
    for p in _signature(ctor).parameters.values():
        text = p.name if p.annotation is _EMPTY else f"{p.name}: {getattr(p.annotation, '__name__', p.annotation)}"
        if p.kind is p.KEYWORD_ONLY and not starred:
            params.append("*")
        starred = starred or p.kind in (p.KEYWORD_ONLY, p.VAR_POSITIONAL)
        params.append(("*" if p.kind is p.VAR_POSITIONAL else "") + text + ("=..." if p.default is not _EMPTY else ""))
    return f"{cls.__name__}({', '.join(params)})"


def _signature(ctor: Callable[..., Any]) -> inspect.Signature:
    """``ctor``'s signature with string annotations resolved where they can be."""
    try:
        return inspect.signature(ctor, eval_str=True)
    except (NameError, SyntaxError, TypeError, AttributeError):
        return inspect.signature(ctor)


def _matches(value: Any, ann: Any) -> bool:
    """Whether ``value`` fits annotation ``ann``; annotations that are not classes fit anything."""
    if isinstance(ann, str):
        ann = {"int": int, "float": float, "str": str, "bool": bool}.get(ann, _EMPTY)
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(ann))
    if ann is None or ann is type(None):
        return value is None
    if not isinstance(ann, type) or ann is _EMPTY or ann is Any:
        return True
    if ann in (int, float) and isinstance(value, bool):
        return False
    if ann is int:  # NumPy integers too: sizes often come from np.prod or an array's shape
        return isinstance(value, numbers.Integral)
    if ann is float:
        return isinstance(value, numbers.Real)
    return isinstance(value, ann)


class Template(InferringModule, metaclass=_TemplateMeta):
    """Base of every ``@net`` class: field storage, constructors, size inference, repr.

    >>> isinstance(Affine(2, 3), Template), issubclass(Template, torch.nn.Module)
    (True, True)
    """

    _fields: ClassVar[tuple[Field, ...]] = ()
    _constructors: ClassVar[list[Callable[..., Any]]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        cls = type(self)
        try:
            bound = cls._signature.bind(*args, **kwargs)
        except TypeError as err:
            names = ", ".join(f.name for f in cls._fields)
            unknown = sorted(set(kwargs) - {f.name for f in cls._fields})
            if unknown:
                raise TypeError(
                    f"{cls.__name__} has no field named {unknown[0]!r}; its fields are ({names}). "
                    f"Fix: call {cls.__name__}({names})."
                ) from None
            forms = [f"{cls.__name__}({names})", *(_shown_call(cls, c) for c in cls.__dict__.get("_constructors", ()))]
            raise TypeError(
                f"{cls.__name__} takes its fields ({names}) positionally or by keyword; "
                f"got {len(args)} positional and {sorted(kwargs)} keyword arguments: {err}. "
                f"Fix: call {' or '.join(forms)}."
            ) from None
        bound.apply_defaults()
        for field in cls._fields:
            self._set_field(field, bound.arguments[field.name])
        self.__post_init__()

    def __post_init__(self) -> None:
        """Check the fields once they are set; templates override it to refuse bad shapes."""

    def _set_field(self, field: Field, value: Any) -> None:
        where = f"{type(self).__name__}.{field.name}"
        if field.kind in (Param, State):
            setattr(self, field.name, _as_parameter(value, where, field.kind.__name__))
        elif field.kind is Model:
            if not callable(value):
                raise TypeError(
                    f"{where} is a Model field: expected a callable (a layer, an nn.Module "
                    f"or a function), got {type(value).__name__}. Fix: pass a model such as "
                    f"Affine(10, 5) or a function such as relu."
                )
            setattr(self, field.name, value)
        else:
            setattr(self, field.name, value)

    @classmethod
    def constructor(cls, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Register ``fn`` as a convenience constructor chosen by its annotated argument types.

        >>> @net
        ... class Scale:
        ...     s: Param
        ...     def forward(self, x):
        ...         return x * self.s
        >>> @Scale.constructor
        ... def _(n: int):
        ...     return Scale(torch.ones(n))
        >>> Scale(3).s.shape
        torch.Size([3])
        """
        cls._constructors.append(fn)
        return fn

    @classmethod
    def infer(cls, build: Callable[[tuple[int, ...]], Template], shown: str) -> Template:
        """A layer whose sizes come from the first input shape it sees.

        ``build(shape)`` makes the real layer once the input shape is known (at
        construction after an ``Input``, else at the first call); ``shown`` is the
        repr's argument text until then, e.g. ``"? => 128"``.

        >>> lazy = Affine.infer(lambda shape: Affine(shape[-1], 2), "? => 2")
        >>> lazy
        Affine(? => 2)
        >>> lazy(torch.ones(3, 4)).shape
        torch.Size([3, 2])
        >>> lazy
        Affine(4 => 2)
        """
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self._pending = (build, shown)
        for field in cls._fields:
            self.__dict__[field.name] = _Uninferred(self, field.name)
        self._pending_hook = self.register_forward_pre_hook(_infer_on_call)
        return self

    @classmethod
    def infer_features(cls, out: int, **options: Any) -> Template:
        """``cls(in, out, **options)`` with ``in`` taken from the last dimension of the first input.

        The usual size-inferred form of a layer from features to features (``Affine(128)``,
        ``LSTM(256)``); it pickles, since it holds no lambda.

        >>> Affine.infer_features(2)(torch.ones(3, 4)).shape
        torch.Size([3, 2])
        """
        return cls.infer(functools.partial(_with_features, cls, out, **options), f"? => {out}")

    @property
    def inferred(self) -> bool:
        """Whether every size of this layer (and of the layers inside it) is known.

        >>> Affine(3).inferred, Affine(4, 3).inferred
        (False, True)
        """
        return not any(is_pending(m) for m in self.modules())

    def materialize(self, shape: tuple[int, ...], *, device: Any = None, dtype: Any = None) -> None:
        """Create this pending layer's parameters for inputs of ``shape`` (batch included).

        >>> lazy = Affine(3)
        >>> lazy.materialize((5, 4))
        >>> lazy
        Affine(4 => 3)
        """
        build, _ = self._pending
        built = build(tuple(shape))
        if device is not None or dtype is not None:
            built = built.to(device=device, dtype=dtype)
        self._pending_hook.remove()
        del self._pending, self._pending_hook
        for field in type(self)._fields:
            self.__dict__.pop(field.name, None)
        for name, value in vars(built).items():
            if name in ("_parameters", "_buffers", "_modules"):
                for key, item in value.items():
                    setattr(self, key, item)
            elif not name.startswith("_") and name != "training":
                setattr(self, name, value)

    def extra_repr(self) -> str:
        """The arguments shown in the repr; templates override it for a compact form."""
        parts = []
        for field in type(self)._fields:
            value = getattr(self, field.name)
            if isinstance(value, Tensor):
                parts.append(f"{field.name}={tuple(value.shape)}")
            elif field.kind is Model:
                parts.append(callable_name(value))
            else:
                parts.append(f"{field.name}={value!r}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        pending = self.__dict__.get("_pending")
        inner = pending[1] if pending else self.extra_repr()
        return f"{type(self).__name__}({inner})"


_WRAPPED: WeakIdKeyDictionary = WeakIdKeyDictionary()  # tensor -> the Parameter made from it


def _as_parameter(value: Any, where: str, kind: str) -> nn.Parameter:
    """Wrap a tensor, array or nested list as an ``nn.Parameter``; shared ones stay shared."""
    if isinstance(value, nn.Parameter):
        return value
    if isinstance(value, Tensor) and value in _WRAPPED:  # one tensor given to two templates
        return _WRAPPED[value]
    if isinstance(value, (Tensor, np.ndarray, list, tuple, float, int)) and not isinstance(value, bool):
        tensor = to_tensor(value)
        param = nn.Parameter(tensor, requires_grad=tensor.is_floating_point() or tensor.is_complex())
        if isinstance(value, Tensor):
            _WRAPPED[value] = param
        return param
    raise TypeError(
        f"{where} is a {kind} field: expected a tensor (or an array or nested list of "
        f"numbers), got {type(value).__name__}. Fix: pass e.g. torch.randn(5, 5)."
    )


def _with_features(cls: type, out: int, shape: tuple[int, ...], **options: Any) -> Template:
    if not shape:
        raise ValueError(
            f"{cls.__name__}(? => {out}) takes its input size from the last dimension of its input, "
            f"got a 0-d tensor. Fix: give data of shape (batch, features) or (features,)."
        )
    return cls(shape[-1], out, **options)


def _wrap_forward(forward: Callable[..., Any]) -> Callable[..., Any]:
    """The user's forward, with list/array inputs converted and failures located."""

    @functools.wraps(forward)  # name, docs, and __wrapped__: the user's code, for error notes
    def forward_located(self: Template, x: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(x, Tensor):
            if hasattr(x, "rewrap"):  # a Batch (or Seq) in gives a Batch out
                return x.rewrap(forward_located(self, x.raw, *args, **kwargs))
            x = at_edge(x, who=repr(self))
        try:
            return forward(self, x, *args, **kwargs)
        except Exception as err:
            annotate(err, self, x=x)
            raise

    return forward_located


@overload
def net(cls: type) -> type[Template]: ...
@overload
def net(cls: Callable[..., Any]) -> AnonymousNet: ...


def net(cls: type | Callable[..., Any]) -> type[Template] | AnonymousNet:
    """Make an ``nn.Module`` template from a class of annotated fields and a ``forward``.

    Fields annotated ``Param`` become parameters, ``Model`` sub-models (any callable),
    ``State`` recurrent state; other annotations are plain settings with optional
    defaults.  The generated constructor takes the fields in order, positionally or by
    keyword; a template subclassing another adds its fields after the inherited ones.
    A ``__post_init__`` method, if the class has one, runs once the fields are set
    (to refuse fields of the wrong shape).
    Given a function instead of a class, ``net(fn)`` is an anonymous model holding the
    parameters ``fn`` refers to (see ``fluxtorch._anonymous``).

    >>> @net
    ... class MyAffine:
    ...     W: Param
    ...     b: Param
    ...     def forward(self, x):
    ...         return x @ self.W + self.b
    >>> m = MyAffine(torch.ones(2, 3), torch.zeros(3))
    >>> m(torch.ones(4, 2)).shape
    torch.Size([4, 3])
    >>> sorted(name for name, _ in m.named_parameters())
    ['W', 'b']
    """
    if not isinstance(cls, type):
        return anonymous_net(cls)
    annotations = cls.__dict__.get("__annotations__", {})
    namespace = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
    # inherited fields first, then this class's (a redeclared field keeps its place)
    by_name = {f.name: f for b in reversed(cls.__mro__[1:]) for f in getattr(b, "_fields", ())}
    for name, ann in annotations.items():
        if _is_classvar(ann):
            continue
        by_name[name] = Field(name, _kind_of(ann), namespace.pop(name, _EMPTY))
    fields = list(by_name.values())
    _check_defaults_last(cls.__name__, fields)
    if "forward" not in namespace and not any(issubclass(b, Template) for b in cls.__bases__):
        raise TypeError(
            f"@net template {cls.__name__} has no forward method. Fix: add "
            f"`def forward(self, x): ...` computing the output from x and the fields."
        )
    if "forward" in namespace:
        namespace["forward"] = _wrap_forward(namespace["forward"])
    states = tuple(f.name for f in fields if f.kind is State)
    if states:
        from fluxtorch._state import Stateful, _wrap_stateful  # state builds on Template itself

        namespace["_state_names"] = states
        if "forward" in namespace:
            namespace["forward"] = _wrap_stateful(namespace["forward"])
        elif not any(issubclass(b, Stateful) for b in cls.__bases__):  # state added to an inherited forward
            namespace["forward"] = _wrap_stateful(cls.forward)
    namespace["_fields"] = tuple(fields)
    namespace["_constructors"] = []
    namespace["_signature"] = inspect.Signature(
        [inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=f.default) for f in fields]
    )
    bases = tuple(b for b in cls.__bases__ if b not in (object, nn.Module)) or (Template,)
    if not any(issubclass(b, Template) for b in bases):
        bases = (*bases, Template)
    if states and not any(issubclass(b, Stateful) for b in bases):
        bases = (Stateful, *(b for b in bases if b is not Template))
    template = _TemplateMeta(cls.__name__, bases, namespace)
    _rebind_class_cells(namespace, cls, template)
    return template


def _check_defaults_last(name: str, fields: list[Field]) -> None:
    """Fields with defaults must come after those without, as in a function signature."""
    first_default = None
    for field in fields:
        if field.default is not _EMPTY:
            first_default = first_default or field.name
        elif first_default:
            raise TypeError(
                f"@net template {name}: field {field.name!r} has no default but comes after "
                f"{first_default!r}, which has one, so the constructor cannot take them in order. "
                f"Fix: declare {field.name!r} before the fields with defaults, or give it a default."
            )


def _rebind_class_cells(namespace: dict, old: type, new: type) -> None:
    """Point zero-argument ``super()`` in the template's methods at the generated class."""
    for value in namespace.values():
        if isinstance(value, property):
            _rebind_class_cells({"get": value.fget, "set": value.fset, "del": value.fdel}, old, new)
            continue
        func = getattr(value, "__wrapped__", value)
        func = getattr(func, "__func__", func)
        for cell in getattr(func, "__closure__", None) or ():
            if cell.cell_contents is old:
                cell.cell_contents = new


def _is_classvar(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.split("[", 1)[0].rsplit(".", 1)[-1] == "ClassVar"
    return annotation is ClassVar or typing.get_origin(annotation) is ClassVar


def _kind_of(annotation: Any) -> type | None:
    if isinstance(annotation, str):
        return {k.__name__: k for k in _KINDS}.get(annotation.rsplit(".", 1)[-1])  # "fluxtorch.Param"
    return annotation if annotation in _KINDS else None


__all__ = ["Field", "Model", "Param", "State", "Template", "net"]
