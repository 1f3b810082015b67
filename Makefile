# maskbench: `make demo` installs and runs the whole pipeline on data it makes itself;
# `make test` installs and runs the test suite. Both create ./.venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-gpu bench docs lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m maskbench.demo --out demo-output

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-gpu: $(STAMP)
	$(BIN)/python -m pytest -q -m gpu

# `make docs`: the documentation (Sphinx, numpydoc, MyST) into docs/_build/html, warnings as errors.
DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html
	@echo "The documentation is in docs/_build/html/index.html"

clean:
	rm -rf $(VENV) demo-output .pytest_cache

# `make lint`: ruff (style, import order, pyflakes, docstring layout) and numpydoc's check that
# every public function documents its parameters and what it returns. Module docstrings have
# headings of their own ("Layout", "Algorithm"), which numpydoc's parser, made for functions,
# reports as unknown sections: those notices are silenced, the checks are not.
LINT_STAMP := $(VENV)/.installed-lint
LINT_PATHS := maskbench flow tests bench

$(LINT_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[lint]"
	touch $(LINT_STAMP)

lint: $(LINT_STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/python -W 'ignore:Unknown section:UserWarning' -m numpydoc lint $$(find maskbench flow -name '*.py' | sort)
