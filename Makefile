# `sam build` builds SpecHook with this target (BuildMethod: makefile): hook-runner as the
# Lambda bootstrap, and the example specs in hook-examples/ beside it; the template's
# HOOK_SPEC_FILE picks one (the test `spec_hook_packages_its_spec` holds the two together).
# SAM does not pass the template's Architecture to make: set LAMBDA_ARCH=x86_64 when you
# deploy with Architecture=x86_64.
LAMBDA_ARCH ?= arm64
# The release profile made small for Lambda, as scripts/lambda-env sets it (a test holds the two
# together): fat LTO, one codegen unit, optimised for size.
export CARGO_PROFILE_RELEASE_LTO ?= fat
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS ?= 1
export CARGO_PROFILE_RELEASE_OPT_LEVEL ?= s
LAMBDA_TARGET = $(if $(filter x86_64,$(LAMBDA_ARCH)),x86_64-unknown-linux-gnu,aarch64-unknown-linux-gnu)

build-SpecHook:
	cargo lambda build --release --bin hook-runner --target $(LAMBDA_TARGET)
	cp target/lambda/hook-runner/bootstrap $(ARTIFACTS_DIR)/bootstrap
	mkdir -p $(ARTIFACTS_DIR)/hook-examples
	cp hook-examples/*.yaml $(ARTIFACTS_DIR)/hook-examples/

.PHONY: build-SpecHook

# The shared hook (hook-examples/shared-hook/template.yaml): hook-runner, and the platform's
# spec beside it.
build-SharedHook:
	cargo lambda build --release --bin hook-runner --target $(LAMBDA_TARGET)
	cp target/lambda/hook-runner/bootstrap $(ARTIFACTS_DIR)/bootstrap
	mkdir -p $(ARTIFACTS_DIR)/hook-examples/shared-hook
	cp hook-examples/shared-hook/shared.yaml $(ARTIFACTS_DIR)/hook-examples/shared-hook/

.PHONY: build-SharedHook
