//go:build tools

// Package tools records the programs this module builds so that go mod tidy
// keeps its dependencies.
package tools

import (
	_ "github.com/bitnami/sealed-secrets/cmd/kubeseal"
	_ "github.com/bitnami/sealed-secrets/cmd/controller"
)
