//go:build tools

// Package tools records the program this module builds so that go mod tidy
// keeps its dependencies.
package tools

import (
	_ "github.com/external-secrets/external-secrets"
)
