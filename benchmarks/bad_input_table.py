"""Every bad input we check, the error each estimator raises, and whether the user's arrays survived unchanged.

    python benchmarks/bad_input_table.py [--write docs/reliability.md]

Runs each case against every estimator (tiny networks, a few seconds in all) and prints a markdown table:
the case, the exception class and the first line of its message (the same for every estimator unless
listed). Every case is also asserted in ``tests/test_validation.py``, ``tests/test_active.py`` and
``tests/test_property.py``; this script is the human-readable inventory.

A second table goes through what a user does with scikit-learn's and skorch's own tools on skda estimators (the
rows of the issue "silent wrong answers in scikit-learn's own tools"): each row says what happens now, an error
or the result checked. A third table gives every parameter of every estimator a wrong type, NaN, a negative and a
fractional value
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
    yield "DeepCORAL", _maker(skda.DeepCORALClassifier)
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
    yield "DataFrame with a text column", lambda make: make().fit(
        __import__("pandas").DataFrame(Xs).add_prefix("f").assign(city=["a", "b"] * 15), ys,
        __import__("pandas").DataFrame(Xt).add_prefix("f").assign(city="a"))
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


def tool_cases():
    """(description, call() -> text): scikit-learn's and skorch's tools used on skda estimators. ``call`` returns
    a short account of what it checked, or raises."""
    import tempfile

    import torch
    from skorch.callbacks import Callback, Checkpoint, EpochScoring, ProgressBar
    from sklearn.compose import make_column_transformer
    from sklearn.model_selection import GridSearchCV, cross_val_predict, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from skda.model_selection import DomainStratifiedKFold, pack_domains

    Xs, ys, Xt = data()
    X, y = pack_domains(Xs, ys, Xt)
    dann = _maker(skda.DANNClassifier, domain_hidden_sizes=(8,))
    source_only = _maker(skda.SourceOnlyClassifier)
    cv = DomainStratifiedKFold(3)

    def row1():
        y_real = np.where(ys == 0, -1, ys)  # -1 a real class of a supervised problem
        clf = source_only().fit(Xs, y_real)
        plain = source_only(unlabeled_marker=None).fit(Xs, y_real)
        return (f"packed convention (documented): -1 rows read as unlabelled target, classes_ {clf.classes_.tolist()}; "
                f"with unlabeled_marker=None: classes_ {plain.classes_.tolist()}")

    def row4():
        pd = __import__("pandas")
        frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]).assign(city=["a", "b"] * 25)
        pipe = make_pipeline(make_column_transformer((OneHotEncoder(), ["city"]), remainder=StandardScaler()), dann())
        grid = GridSearchCV(pipe, {"dannclassifier__lr": [0.01, 0.05]}, cv=cv, scoring=skda.metrics.iwcv_scorer)
        grid.fit(frame, y)
        return f"works: IWCV scores {np.round(grid.cv_results_['mean_test_score'], 3).tolist()} (finite)"

    def row5():
        clf = dann().fit(Xs, ys, Xt)
        before = clf.predict_proba(Xt)
        clf.set_params(module__hidden_sizes=(8,))
        return f"works: predictions unchanged: {np.array_equal(before, clf.predict_proba(Xt))}"

    def row9():
        sel = skda.ActiveSelector(**TINY)
        keep = ys < 2
        yt = np.arange(20) % 3
        acc = skda.active_learning_loop(sel, Xs[keep], ys[keep], Xt, yt, rounds=2, budget=5, round_epochs=1,
                                        classes=[0, 1, 2])
        return f"works with classes=: {len(acc) - 1} rounds, classes_ {sel.classes_.tolist()}"

    def row10():
        clf = dann().fit(Xs, ys, Xt)
        with tempfile.TemporaryDirectory() as tmp:
            clf.save_params(f_params=f"{tmp}/p.pt")
            restored = dann().load_params(f_params=f"{tmp}/p.pt")
            torch.load(f"{tmp}/p.pt", weights_only=True)
        return f"works: same predictions {np.array_equal(restored.predict_proba(Xt), clf.predict_proba(Xt))}"

    def row12():
        class CtrlC(Callback):
            def on_batch_end(self, net, training=False, **kwargs):
                if training and len(net.history) == 2:
                    raise KeyboardInterrupt

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf = dann(max_epochs=5, callbacks=[CtrlC()]).fit(Xs, ys, Xt)
        said = [str(w.message) for w in caught if "interrupted" in str(w.message)]
        return f"UserWarning: {said[0]} History: {len(clf.history)} whole epoch(s)."

    def row13():
        with tempfile.TemporaryDirectory() as tmp:
            dann(train_split=__import__("skorch").dataset.ValidSplit(3), max_epochs=2,
                 callbacks=[Checkpoint(monitor="valid_loss_best", dirname=tmp)]).fit(Xs, ys, Xt)
            import os

            files = sorted(os.listdir(tmp))
        size = len(__import__("pickle").dumps(dann().fit(Xs, ys, Xt)))
        return f"writes {files} into dirname (documented); a pickle leaves out the optimiser state ({size} bytes)"

    def row15():
        return repr(make_pipeline(StandardScaler(), skda.DANNClassifier(lr=0.05, max_epochs=3))).replace("\n", " ")

    def row7():
        pipe = make_pipeline(StandardScaler(), dann()).set_output(transform="pandas").fit(X, y)
        out = pipe.transform(X)
        return f"works: {type(out).__name__} with columns {list(out.columns[:2])} ..."

    def row6():
        clf = dann().partial_fit(Xs[ys == 0], ys[ys == 0], Xt, classes=[0, 1, 2])
        clf.partial_fit(Xs[ys == 1], ys[ys == 1], Xt)
        return f"works: classes_ {clf.classes_.tolist()}"

    def row11():
        def rss_mib():  # resident memory of this process (Linux), MiB
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * __import__("os").sysconf("SC_PAGE_SIZE") / 2**20

        clf = dann().fit(Xs, ys, Xt)
        big = np.random.RandomState(0).randn(200_000, Xs.shape[1]).astype(np.float32)
        after = []
        for _ in range(5):
            clf.predict_proba(big)
            after.append(rss_mib())
        return (f"one preallocated output filled chunk by chunk: resident memory after 5 calls on 200k rows "
                f"{max(after) - after[0]:+.0f} MiB vs after the first")

    yield "1: -1 is a real class of a plain supervised problem (SourceOnly, packed)", row1
    yield "2: cross_val_predict(method='predict_proba') on packed data", \
        lambda: cross_val_predict(source_only(), X, y, cv=cv, method="predict_proba")
    yield "2: skda.model_selection.cross_val_predict instead", \
        lambda: "works: shape " + str(skda.model_selection.cross_val_predict(source_only(), X, y, cv=cv,
                                                                             method="predict_proba").shape)
    yield "3: cross_val_score(scoring='accuracy') on packed data", \
        lambda: cross_val_score(dann(), X, y, cv=cv, scoring="accuracy", error_score="raise")
    yield "3: scoring=skda.metrics.labelled_scorer('accuracy')", \
        lambda: "works: " + str(np.round(cross_val_score(dann(), X, y, cv=cv,
                                                         scoring=skda.metrics.labelled_scorer("accuracy")), 3))
    yield "4: iwcv_scorer on a ColumnTransformer pipeline over a DataFrame with a string column", row4
    yield "5: set_params(module__hidden_sizes=<same>) after fit", row5
    yield "6: partial_fit of a one-class chunk with classes declared", row6
    yield "7: Pipeline(...).set_output(transform='pandas')", row7
    yield "8: lr=float('nan')", lambda: dann(lr=float("nan")).fit(Xs, ys, Xt)
    yield "9: active_learning_loop when the oracle reveals a class the source lacks (no classes=)", \
        lambda: skda.active_learning_loop(skda.ActiveSelector(**TINY), Xs[ys < 2], ys[ys < 2], Xt,
                                          np.arange(20) % 3, rounds=2, budget=8, round_epochs=1)
    yield "9: the same with classes=[0, 1, 2]", row9
    yield "10: initialize() then load_params (skorch's pattern)", \
        lambda: dann().initialize()
    yield "10: save_params / load_params into an unfitted estimator", row10
    yield "11: predict_proba on many rows", row11
    yield "12: Ctrl-C inside an epoch", row12
    yield "13: Checkpoint(monitor='valid_loss_best', dirname=...)", row13
    yield "14: fit(..., sample_weight=w)", lambda: dann().fit(Xs, ys, Xt, sample_weight=np.ones(len(ys)))
    yield "15: repr inside a Pipeline", row15
    yield "16: pipe.fit(Xs, ys, dannclassifier__X_target=Xt)", \
        lambda: make_pipeline(StandardScaler(), dann()).fit(Xs, ys, dannclassifier__X_target=Xt)
    def row18():
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.frozen import FrozenEstimator

        return CalibratedClassifierCV(FrozenEstimator(dann().fit(X, y))).fit(Xs, ys).score(X, y)

    def row19():
        from sklearn.multiclass import OneVsRestClassifier

        return OneVsRestClassifier(source_only()).partial_fit(X, y, classes=np.unique(y))

    def row20():
        source, target = np.flatnonzero(y != -1), np.flatnonzero(y == -1)
        folds = [(np.r_[source, target[::2]], target[1::2])]
        return GridSearchCV(dann(), {"lr": [0.01, 0.05]}, cv=folds, refit=False).fit(X, y)

    def warned_before_a_blind_classifier(transformer):
        """What fitting ``Pipeline(transformer, LogisticRegression())`` on packed data says."""
        from sklearn.linear_model import LogisticRegression

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            make_pipeline(transformer, LogisticRegression()).fit(X, y)
        said = [str(w.message) for w in caught if "packed labels" in str(w.message)]
        return f"UserWarning: {said[0]}" if said else "accepted (no warning)"

    def row21():
        from skda.preprocessing import CORAL

        return warned_before_a_blind_classifier(CORAL())

    def row22():
        clf = dann(module__hidden_sizes=(64, 64)).fit(Xs, ys, Xt)
        return clf.predict(np.vstack([Xt[:3], np.full((1, Xt.shape[1]), 3e38, np.float32)]))

    def row23():
        from sklearn.ensemble import VotingClassifier
        from sklearn.frozen import FrozenEstimator

        fitted = dann().fit(X, y)
        return VotingClassifier([("a", FrozenEstimator(fitted))], voting="soft").fit(X, y).predict(Xt)

    def row24():
        from sklearn.multioutput import MultiOutputClassifier

        Y = np.c_[y, y]
        return MultiOutputClassifier(dann()).fit(X, Y).score(X, Y)

    def row25():
        from sklearn.multioutput import ClassifierChain

        return ClassifierChain(dann(), order=[0, 1]).fit(X, np.c_[y, y])

    def row26():
        return warned_before_a_blind_classifier(dann())

    def row27():
        return dann().fit(X, np.where(y == -1, np.nan, y))

    def row29():
        from skorch.callbacks import EarlyStopping

        return _maker(skda.MADDAClassifier)(callbacks=[EarlyStopping(monitor="train_loss")]).fit(Xs, ys, Xt)

    def row30():
        return dann().fit(Xs, ys, Xt, np.array([None] * (len(Xt) - 1) + [int(ys[0])], dtype=object))

    def row31():
        class Stack(torch.nn.Module):
            def __init__(self, layers):
                super().__init__()
                self.layers = torch.nn.Sequential(*layers)

            def forward(self, x):
                return self.layers(x)

        def stacked():  # TINY's module__hidden_sizes is MLPFeatureExtractor's
            return skda.DANNClassifier(module=Stack, module__layers=layers, domain_hidden_sizes=(8,),
                                       **{k: v for k, v in TINY.items() if not k.startswith("module__")})

        layers = [torch.nn.Linear(Xs.shape[1], 6), torch.nn.ReLU()]
        before = layers[0].weight.detach().clone()
        first = stacked().fit(Xs, ys, Xt)
        proba = first.predict_proba(Xt)
        stacked().fit(Xs, ys, Xt)
        return (f"the user's layers unchanged: {bool(torch.equal(layers[0].weight, before))}; the first model's "
                f"predictions unchanged by the second fit: {bool(np.array_equal(first.predict_proba(Xt), proba))}")

    yield "17: permutation_test_score on packed data", \
        lambda: __import__("sklearn.model_selection").model_selection.permutation_test_score(
            dann(), X, y, cv=cv, n_permutations=2)
    yield "18: CalibratedClassifierCV(FrozenEstimator(model)).score(X_packed, y_packed)", row18
    yield "19: OneVsRestClassifier(...).partial_fit on packed data", row19
    yield "20: GridSearchCV(scoring=None) whose test fold holds target rows only", row20
    yield "21: Pipeline(CORAL(), LogisticRegression()) on packed data", row21
    yield "22: predict on a finite row far outside the training range (3e38)", row22
    yield "23: VotingClassifier(FrozenEstimator(model)) fitted on packed labels, then predict", row23
    yield "24: MultiOutputClassifier(model).score on packed 2-D labels", row24
    yield "25: ClassifierChain(model).fit on packed 2-D labels", row25
    yield "26: Pipeline(DANNClassifier(), LogisticRegression()) on packed data", row26
    yield "27: packed y with NaN (not the marker) on the target rows", row27
    yield "28: pack_domains(..., unlabeled_marker=np.nan)", \
        lambda: pack_domains(Xs, ys.astype(float), Xt, unlabeled_marker=np.nan)
    yield "29: MADDAClassifier(callbacks=[EarlyStopping(monitor='train_loss')]) (with its source stage)", row29
    yield "30: fit(Xs, ys, Xt, yt) with None for the unknown target labels", row30
    yield "31: module=Stack, module__layers=[layers] in two estimators", row31
    yield "skorch ProgressBar", lambda: dann(callbacks=[ProgressBar()]).fit(Xs, ys, Xt)
    yield "skorch EpochScoring", lambda: dann(callbacks=[EpochScoring("accuracy")]).fit(Xs, ys, Xt)
    yield "skorch iterator_train__shuffle=False", lambda: dann(iterator_train__shuffle=False).fit(Xs, ys, Xt)


def outcome(fn):
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 - we report whatever is raised
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return result if isinstance(result, str) else "accepted (no error)"


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
        tool_rows = [(description, outcome(call)) for description, call in tool_cases()]
    lines = ["| issue row: what the user does | what happens (error, or the result checked) |", "|---|---|"]
    lines += [f"| {d} | {r.replace('|', '/')} |" for d, r in tool_rows]
    text += ("\n## scikit-learn's and skorch's own tools\n\n"
             "Produced by `python benchmarks/bad_input_table.py`: what happens when the user reaches for "
             "scikit-learn's and skorch's tools (DANN unless named; packed data: target rows labelled -1). Each "
             "row is pinned by a test in `tests/` (`test_engine.py`, `test_ecosystem.py`, `test_sklearn_tools.py`, "
             "`test_persistence.py`, `test_active.py`, `test_validation.py`, `test_api.py`).\n\n"
             + "\n".join(lines) + "\n")
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
             "`TypeError`). skorch's parameters that skda's training loop does not use (`iterator_train`, "
             "`iterator_valid`, `dataset`, `predict_nonlinearity` and their `__*` values) are refused with a "
             "`TypeError` naming them when set to anything but skorch's default "
             "(`skda.params.check_unused_skorch_parameters`); skorch refuses a bad `use_caching` when the network "
             "is initialised. \"all\": every "
             "estimator (" + ", ".join(name for name, _ in estimators()) + "). \"accepted (documented: ...)\" "
             "gives the values the parameter takes (a valid value, e.g. `lr=2.5`, is accepted).\n\n"
             + "\n".join(lines) + "\n")
    print(text)
    if args.write:  # the page keeps what stands above the marker (hand-written), the rest is replaced
        try:
            with open(args.write) as fh:
                head = fh.read().split(MARKER)[0]
        except FileNotFoundError:
            head = "# Reliability: bad inputs and the errors they raise\n\n"
        with open(args.write, "w") as fh:
            fh.write(head + MARKER + "\n\n" + text)


#: the line of docs/reliability.md below which the page is written by this script
MARKER = "<!-- everything below is written by benchmarks/bad_input_table.py -->"


if __name__ == "__main__":
    main()
