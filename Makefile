# containerhost.platform: the two commands are `make demo` and `make test` (Debian 12, as root).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
HOSTS ?= 2
VMS ?= 0
SCENARIO ?= host_info
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/collections
export ANSIBLE_FORCE_COLOR ?= 0

APT_PACKAGES := podman netavark aardvark-dns runc crun conmon skopeo buildah debootstrap qemu-system-x86 \
	qemu-utils openssh-client iptables e2fsprogs rsync python3-venv ca-certificates git shellcheck debian-archive-keyring \
	docker-registry apache2-utils openssl
VENV_STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)

.PHONY: help setup test unit sanity lint molecule scenario bench demo testbed-up testbed-down testbed-status testbed-check-clean clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

setup: .apt-stamp $(VENV_STAMP) ## Install system packages and the Python venv (skips what is in place)

.apt-stamp: Makefile
	@missing=$$(dpkg-query -W -f='$${Package} $${Status}\n' $(APT_PACKAGES) 2>/dev/null | awk '$$4 != "installed" {print $$1}'; \
	  for p in $(APT_PACKAGES); do dpkg-query -W $$p >/dev/null 2>&1 || echo $$p; done); \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | xargs); \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing $$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else echo "apt: all packages present"; fi
	@touch $@

$(VENV_STAMP): requirements.txt requirements-dev.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	tests/tools/install-ansible-test-bootstrap.sh
	@rm -f $(VENV)/.installed-* && touch $@

test: setup unit sanity lint molecule testbed-check-clean ## Every test: unit, sanity, lint, Molecule, teardown check

unit: setup ## Unit tests (pytest)
	$(VENV)/bin/python -m pytest tests/unit

sanity: setup ## ansible-test sanity on a copy of the collection (local Python)
	tests/sanity-copy.sh --requirements

lint: setup ## ansible-lint
	ansible-lint

molecule: setup ## Every Molecule scenario, in MOLECULE_LANES (default 2) parallel lanes on testbeds of their own
	$(VENV)/bin/python tests/tools/molecule_lanes.py

scenario: setup ## One Molecule scenario: make scenario SCENARIO=name
	molecule test -s $(SCENARIO)

bench: setup ## Benchmarks on testbeds of their own: slices (slice task vs template), images (list vs task per image), cluster.yml (first run, no-op), container_host.yml (no-op vs ping)
	$(VENV)/bin/python tests/bench/bench_slices.py
	$(VENV)/bin/python tests/bench/bench_images.py
	$(VENV)/bin/python tests/bench/bench_cluster.py
	$(VENV)/bin/python tests/bench/bench_container_host.py

demo: setup ## Start test hosts and roll playbooks/container_host.yml out to them
	$(PYTHON) tests/testbed/testbed.py up --hosts $(HOSTS) --vms $(VMS)
	ansible-playbook -i .testbed/inventory.yml -i tests/testbed/demo playbooks/container_host.yml

testbed-up: setup ## Start HOSTS container hosts and VMS VM hosts
	$(PYTHON) tests/testbed/testbed.py up --hosts $(HOSTS) --vms $(VMS)

testbed-down: ## Remove every test host, VM, volume and network
	$(PYTHON) tests/testbed/testbed.py down

testbed-status: ## What the testbed has up
	$(PYTHON) tests/testbed/testbed.py status

testbed-check-clean: ## Fail if the testbed left anything behind
	$(PYTHON) tests/testbed/testbed.py check-clean

clean: testbed-down ## Remove the testbed and local state (keeps the image cache)
	rm -rf $(VENV) .apt-stamp tests/output .pytest_cache
