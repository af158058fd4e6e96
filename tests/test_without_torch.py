"""Linear users need neither torch nor skorch: the package works without them."""

import ast
import subprocess
import sys
import textwrap

BLOCKER = textwrap.dedent(
    """
    import sys

    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "skorch"):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, _Block())
    """
)

SCRIPT = textwrap.dedent(
    """
    import importlib, pkgutil
    import sklearn_unlearn
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn_unlearn import UnlearningClassifier
    from sklearn_unlearn import metrics, model_selection, inspection, ensemble

    needs_torch = []
    for m in pkgutil.walk_packages(sklearn_unlearn.__path__, "sklearn_unlearn."):
        try:
            importlib.import_module(m.name)
        except ModuleNotFoundError as exc:
            assert "torch" in str(exc) or "skorch" in str(exc), exc
            needs_torch.append(m.name)
    X, y = make_classification(120, 4, random_state=0)
    for method in ["newton", "ssse", "first_order", "puma"]:
        clf = UnlearningClassifier(LogisticRegression(), method=method).fit(X, y)
        clf.unlearn(X[:3], y[:3], X_retain=X[3:], y_retain=y[3:])
    print(sorted(needs_torch))
    """
)


def test_linear_models_work_without_torch(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={"PYTHONPATH": str(tmp_path), "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    # only the net-specific modules need torch; the public packages import
    needs = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    public = {"sklearn_unlearn.methods", "sklearn_unlearn.metrics", "sklearn_unlearn"}
    assert not public & set(needs)
