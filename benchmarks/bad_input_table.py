"""Every bad input we check, the error each estimator raises, and whether the user's arrays survived unchanged.

    python benchmarks/bad_input_table.py [--write docs/reliability.md]

Runs each case against every estimator (tiny networks, a few seconds in all) and prints a markdown table:
the case, the exception class and the first line of its message (the same for every estimator unless
listed). Every case is also asserted in ``tests/test_validation.py``, ``tests/test_active.py`` and
``tests/test_property.py``; this script is the human-readable inventory.

A second table gives every parameter of every estimator a wrong type, NaN, a negative and a fractional value
(``fit`` on tiny data, ``max_epochs=1``; about a minute on 2 cores): the error, or "accepted" with the
documentation of the values the parameter takes (``skda.params``). Those cases are asserted in
``tests/test_validation.py`` (``BAD_VALUES``).
"""

from __future__ import annotations

import argparse
import copy
import re
import warnings

import numpy as np
import scipy.sparse as sp

import skda

TINY = dict(max_epochs=1, batch_size=16, module__hidden_sizes=(8,), random_state=0, device="cpu")


def _maker(cls, **settings):
    """``make(**params)``: a fresh tiny ``cls``; ``params`` override the tiny settings."""
    return lambda **kw: cls(**{**TINY, **settings, **kw})


def estimators():
    yield "SourceOnly", _maker(skda.SourceOnlyClassifier)
    yield "DANN", _maker(skda.DANNClassifier, domain_hidden_sizes=(8,))
    yield "MADDA", _maker(skda.MADDAClassifier, source_epochs=1, embedding_dim=4, discriminator_hidden_sizes=(8,))
    yield "MLADA", _maker(skda.MLADAClassifier, domain_hidden_sizes=(8,), metric_hidden=8, metric_dim=4)
    yield "ILADA", _maker(skda.ILADAClassifier, domain_hidden_sizes=(8,))
    if hasattr(skda, "ActiveSelector"):
        yield "ActiveSelector", _maker(skda.ActiveSelector)


def data():
    rng = np.random.RandomState(0)
    Xs = rng.randn(30, 5).astype(np.float32)
    ys = np.arange(30) % 3
    Xt = rng.randn(20, 5).astype(np.float32) + 0.5
    return Xs, ys, Xt


def cases():
    """(description, call(make) -> anything); ``make(**params)`` builds a fresh estimator."""
    Xs, ys, Xt = data()
    nan = Xs.copy()
    nan[2, 1] = np.nan
    inf = Xt.copy()
    inf[0, 0] = np.inf

    def fitted(make):
        return make().fit(Xs, ys, Xt)

    yield "Xt has a different feature count than Xs", lambda make: make().fit(Xs, ys, Xt[:, :4])
    yield "predict on a different feature count", lambda make: fitted(make).predict(Xt[:, :4])
    yield "NaN in Xs", lambda make: make().fit(nan, ys, Xt)
    yield "inf in Xt", lambda make: make().fit(Xs, ys, inf)
    yield "NaN at predict", lambda make: fitted(make).predict(nan)
    yield "empty Xs", lambda make: make().fit(Xs[:0], ys[:0], Xt)
    yield "empty Xt", lambda make: make().fit(Xs, ys, Xt[:0])
    yield "one class in ys", lambda make: make().fit(Xs, np.zeros(30, int), Xt)
    yield "ys length differs from Xs", lambda make: make().fit(Xs, ys[:-1], Xt)
    yield "y is only the unlabelled marker (packed)", lambda make: make().fit(Xs, np.full(30, -1))
    yield "packed y without target rows", lambda make: make().fit(Xs, ys)
    # packed form: -1 rows ARE the target by definition (documented); with a single real class left the error
    # explains the clash
    yield "-1 as a real class, packed form, 1 other class", lambda make: make().fit(Xs, np.where(ys == 0, -1, 1))
    yield "marker in y while X_target is given", lambda make: make().fit(Xs, np.where(ys == 0, -1, ys), Xt)
    yield "continuous y", lambda make: make().fit(Xs, ys + 0.5, Xt)
    yield "y = None", lambda make: make().fit(Xs, None, Xt)
    yield "sparse input (small: densified)", lambda make: make().fit(sp.csr_matrix(Xs), ys, sp.csr_matrix(Xt))
    yield "string feature array", lambda make: make().fit(Xs.astype(str).astype(object) + "x", ys, Xt)
    yield "3-D input with the default MLP", lambda make: make().fit(Xs.reshape(30, 5, 1), ys, Xt.reshape(20, 5, 1))
    yield "predict before fit", lambda make: make().predict(Xt)
    yield "predict_proba before fit", lambda make: make().predict_proba(Xt)


def query_cases():
    Xs, ys, Xt = data()
    yt = np.full(20, -1)
    yt[:3] = [0, 1, 2]

    def sel():
        return skda.ActiveSelector(**TINY).fit(Xs, ys, Xt, yt)

    yield "query budget 0", lambda: sel().query(0)
    yield "query budget -3", lambda: sel().query(-3)
    yield "query budget fraction 1.5", lambda: sel().query(1.5)
    yield "query budget above the unlabelled pool (17)", lambda: sel().query(18)
    yield "query before fit", lambda: skda.ActiveSelector(**TINY).query(2)


#: per parameter: a wrong type, NaN, a negative and a fractional value (sequences of sizes get bad entries too)
PARAM_VALUES = ["abc", float("nan"), -1, 2.5]
SIZES_VALUES = [(8, -1), (8, 2.5)]


def parameter_rows():
    """``(estimators, parameter, value, outcome)`` for every parameter of every estimator given each of
    ``PARAM_VALUES``; estimators with the same outcome share a row."""
    from skda.params import UNCHECKED_PARAMETERS, parameter_constraints
    from sklearn.utils._param_validation import make_constraint

    Xs, ys, Xt = data()
    names = [name for name, _ in estimators()]
    results = {}  # (parameter, value repr) -> {estimator: outcome}
    order = []
    for est_name, make in estimators():
        cls = type(make())
        constraints = parameter_constraints(cls)
        for param in sorted(cls().get_params(deep=False)):  # the estimator's own parameters, none routed
            values = PARAM_VALUES + (SIZES_VALUES if param.endswith("hidden_sizes") else [])
            for value in values:
                result = outcome(lambda m=make, p=param, v=value: m(**{p: v}).fit(Xs, ys, Xt))
                if result == "accepted (no error)":
                    if param in constraints:
                        allowed = " or ".join(str(make_constraint(c)) for c in constraints[param])
                        result = f"accepted (documented: {allowed})"
                    elif param in UNCHECKED_PARAMETERS:
                        result = "accepted (documented: skorch's own parameter, skda.params.UNCHECKED_PARAMETERS)"
                key = (param, repr(value))
                if key not in results:
                    order.append(key)
                results.setdefault(key, {})[est_name] = re.sub(r"\b\w+(Classifier|Selector)\b", "<Estimator>", result)
    rows = []
    for key in sorted(order):
        by_outcome = {}
        for est_name, result in results[key].items():
            by_outcome.setdefault(result, []).append(est_name)
        for result, ests in by_outcome.items():
            label = "all" if len(ests) == len(names) else ", ".join(ests)
            rows.append((label, key[0], key[1], result))
    return rows


def outcome(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - we report whatever is raised
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return "accepted (no error)"


def run():
    Xs, ys, Xt = data()
    originals = [copy.deepcopy(a) for a in (Xs, ys, Xt)]
    rows = []
    for description, call in cases():
        results = {name: re.sub(r"\b\w+(Classifier|Selector)\b", "<Estimator>", outcome(lambda m=make, c=call: c(m)))
                   for name, make in estimators()}
        distinct = sorted(set(results.values()))
        if len(distinct) == 1:
            rows.append((description, distinct[0]))
        else:
            rows.append((description, "<br>".join(f"{n}: {r}" for n, r in results.items())))
    if hasattr(skda, "ActiveSelector"):
        for description, call in query_cases():
            rows.append((description, outcome(call)))
    unchanged = all(np.array_equal(a, b) for a, b in zip(originals, (Xs, ys, Xt)))
    return rows, unchanged


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", default=None)
    args = ap.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows, unchanged = run()
    lines = ["| bad input | error raised (class: message) |", "|---|---|"]
    lines += [f"| {d} | {r.replace('|', '/')} |" for d, r in rows]
    text = ("Produced by `python benchmarks/bad_input_table.py`; every estimator gives the same error unless "
            "listed per estimator.\n\n" + "\n".join(lines) +
            f"\n\nUser arrays unchanged after all calls: {unchanged}.\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        param_rows = parameter_rows()
    lines = ["| estimators | parameter | value | outcome (class: message, or accepted) |", "|---|---|---|---|"]
    lines += [f"| {e} | `{p}` | `{v}` | {r.replace('|', '/')} |" for e, p, v, r in param_rows]
    text += ("\n## Hyper-parameters: wrong type, NaN, negative, fractional\n\n"
             "Produced by `python benchmarks/bad_input_table.py`: every parameter of every estimator given a wrong "
             "type, NaN, a negative and a fractional value, then `fit` on tiny data (`max_epochs=1`). The "
             "parameters are checked at `fit` and `partial_fit`, before any data is looked at, against the "
             "constraint table of the estimator class and its parents (`_parameter_constraints`, "
             "`skda.params`); the error is scikit-learn's `InvalidParameterError` (a `ValueError` and a "
             "`TypeError`). skorch's own parameters (`skda.params.UNCHECKED_PARAMETERS`: "
             "`iterator_train`, `iterator_valid`, `dataset`, `predict_nonlinearity`, `use_caching`) are left to "
             "skorch: skda's training loop draws its own batches and predicts "
             "with its own `predict_proba`, so the iterators, `dataset` and `predict_nonlinearity` are accepted "
             "and unused; skorch refuses a bad `use_caching` when the network is initialised. \"all\": every "
             "estimator (" + ", ".join(name for name, _ in estimators()) + "). \"accepted (documented: ...)\" "
             "gives the values the parameter takes (a valid value, e.g. `lr=2.5`, is accepted).\n\n"
             + "\n".join(lines) + "\n")
    print(text)
    if args.write:
        with open(args.write, "w") as fh:
            fh.write("# Reliability: bad inputs and the errors they raise\n\n" + text)


if __name__ == "__main__":
    main()
