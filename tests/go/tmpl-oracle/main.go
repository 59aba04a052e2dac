// tmpl-oracle renders templates with the Go engines kseal must match, for the differential suite
// (crates/kseal-template/tests/differential.rs):
//
//   - flavour "eso": text/template with missingkey=error, sprig v3.3.0's TxtFuncMap without env,
//     expandenv and getHostByName, plus External Secrets Operator's own functions and the two its
//     vendored sprig changes, htpasswd and hexdec (eso.go), the data dot a map[string]string as ESO
//     builds it;
//   - flavour "sealed": text/template with Go's default missing-key behaviour and sprig's
//     GenericFuncMap without env, expandenv and getHostByName, as sealed-secrets' controller does;
//   - flavour "property": an ESO remoteRef property lookup with tidwall/gjson, as ESO's AWS
//     Secrets Manager provider does it (a dotted property is first tried with every dot escaped).
//
// Input on stdin, output on stdout: one JSON object per line. A request is
// {"id": "...", "flavour": "...", "template": "...", "data": {"k": "base64 of the value"}}
// (for "property": "template" is the property and data["json"] the secret); the answer is
// {"id": "...", "ok": true, "out": "base64 of the output"} or {"id": "...", "ok": false, "err": "..."}.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/tidwall/gjson"
)

type request struct {
	ID       string            `json:"id"`
	Flavour  string            `json:"flavour"`
	Template string            `json:"template"`
	Data     map[string]string `json:"data"`
}

type answer struct {
	ID  string `json:"id"`
	OK  bool   `json:"ok"`
	Out string `json:"out,omitempty"`
	Err string `json:"err,omitempty"`
}

var removed = []string{"env", "expandenv", "getHostByName"}

func esoFuncs() template.FuncMap {
	m := sprig.TxtFuncMap()
	for _, name := range removed {
		delete(m, name)
	}
	for name, f := range esoOwnFuncs() {
		m[name] = f
	}
	return m
}

func sealedFuncs() template.FuncMap {
	m := template.FuncMap(sprig.GenericFuncMap())
	for _, name := range removed {
		delete(m, name)
	}
	return m
}

func render(req request, data map[string][]byte, eso, sealed template.FuncMap) ([]byte, error) {
	switch req.Flavour {
	case "property":
		return property(string(data["json"]), req.Template)
	case "eso", "sealed":
	default:
		return nil, fmt.Errorf("unknown flavour %q", req.Flavour)
	}
	dot := make(map[string]string, len(data))
	for k, v := range data {
		dot[k] = string(v)
	}
	t := template.New(req.ID)
	if req.Flavour == "eso" {
		t = t.Option("missingkey=error").Funcs(eso)
	} else {
		t = t.Funcs(sealed)
	}
	t, err := t.Parse(req.Template)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := t.Execute(&out, dot); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// property is ESO's GetSecret for a remoteRef with a property (AWS Secrets Manager provider).
func property(payload, prop string) ([]byte, error) {
	ref := prop
	if strings.Contains(prop, ".") {
		escaped := strings.ReplaceAll(prop, ".", "\\.")
		if gjson.Get(payload, escaped).Exists() {
			ref = escaped
		}
	}
	val := gjson.Get(payload, ref)
	if !val.Exists() {
		return nil, fmt.Errorf("key %s does not exist in secret", prop)
	}
	return []byte(val.String()), nil
}

func main() {
	eso, sealed := esoFuncs(), sealedFuncs()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 0, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintln(os.Stderr, "tmpl-oracle: bad request:", err)
			os.Exit(2)
		}
		data := make(map[string][]byte, len(req.Data))
		for k, v := range req.Data {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				fmt.Fprintln(os.Stderr, "tmpl-oracle: bad data value:", err)
				os.Exit(2)
			}
			data[k] = b
		}
		a := answer{ID: req.ID}
		got, err := renderSafely(req, data, eso, sealed)
		if err != nil {
			a.Err = err.Error()
		} else {
			a.OK = true
			a.Out = base64.StdEncoding.EncodeToString(got)
		}
		if err := enc.Encode(a); err != nil {
			fmt.Fprintln(os.Stderr, "tmpl-oracle:", err)
			os.Exit(2)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "tmpl-oracle:", err)
		os.Exit(2)
	}
}

// renderSafely turns a panic of a template function into an error (text/template recovers most,
// not all of them).
func renderSafely(req request, data map[string][]byte, eso, sealed template.FuncMap) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return render(req, data, eso, sealed)
}
