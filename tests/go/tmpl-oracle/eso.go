package main

// External Secrets Operator's own template functions (engine v2), written for this oracle from a
// reading of ESO v2.9's template package (runtime/template/v2), with the libraries ESO uses
// (go-pkcs12, jwx, sigs.k8s.io/yaml). Where ESO's code dereferences a missing PEM block (pemToPkcs12*,
// fullPemToPkcs12*, pemTruststoreToPKCS12* on input that is not, or not only, PEM), this code does
// the same: text/template turns the panic into an error.
//
// ESO vendors its own sprig copy (runtime/template/v2/sprig), sprig v3.3.0 but for two functions,
// written here too: htpasswd takes a third argument ("sha" for {SHA}, anything else bcrypt), and
// hexdec (not in sprig 3.3.0) writes the decoder's error text instead of failing.

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"sigs.k8s.io/yaml"
	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

func esoOwnFuncs() template.FuncMap {
	return template.FuncMap{
		"pkcs12key":                 func(in string) (string, error) { return pkcs12keyPass("", in) },
		"pkcs12keyPass":             pkcs12keyPass,
		"pkcs12cert":                func(in string) (string, error) { return pkcs12certPass("", in) },
		"pkcs12certPass":            pkcs12certPass,
		"pemToPkcs12":               func(cert, key string) (string, error) { return pemToPkcs12Pass(cert, key, "") },
		"pemToPkcs12Pass":           pemToPkcs12Pass,
		"fullPemToPkcs12":           func(cert, key string) (string, error) { return fullPemToPkcs12Pass(cert, key, "") },
		"fullPemToPkcs12Pass":       fullPemToPkcs12Pass,
		"pemTruststoreToPKCS12":     func(certs string) (string, error) { return pemTruststoreToPKCS12Pass(certs, "") },
		"pemTruststoreToPKCS12Pass": pemTruststoreToPKCS12Pass,
		"filterPEM":                 filterPEM,
		"filterCertChain":           filterCertChain,
		"certSANs":                  certSANs,
		"jwkPublicKeyPem":           jwkPublicKeyPem,
		"jwkPrivateKeyPem":          jwkPrivateKeyPem,
		"toYaml":                    toYAML,
		"fromYaml":                  fromYAML,
		"rsaDecrypt":                rsaDecrypt,
		"hexdec":                    hexdec,
		"htpasswd":                  htpasswd,
	}
}

func pemBlock(der []byte, kind string) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}))
}

func pkcs12keyPass(pass, in string) (string, error) {
	key, _, _, err := gopkcs12.DecodeChain([]byte(in), pass)
	if err != nil {
		return "", fmt.Errorf("unable to decode pkcs12 with password: %s", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	return pemBlock(der, "PRIVATE KEY"), nil
}

func pkcs12certPass(pass, in string) (string, error) {
	_, cert, cas, err := gopkcs12.DecodeChain([]byte(in), pass)
	if err != nil {
		return "", fmt.Errorf("unable to decode pkcs12 certificate with password: %s", err)
	}
	all := pemBlock(cert.Raw, "CERTIFICATE")
	for _, ca := range cas {
		all += pemBlock(ca.Raw, "CERTIFICATE")
	}
	chain, err := orderChain([]byte(all))
	if err != nil {
		return all, nil // unordered when the chain cannot be ordered
	}
	var out strings.Builder
	for _, c := range chain {
		out.WriteString(pemBlock(c.Raw, "CERTIFICATE"))
	}
	return out.String(), nil
}

func parsePrivateKey(der []byte) (any, error) {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("unable to parse private key type")
}

func pemToPkcs12Pass(cert, key, pass string) (string, error) {
	block, _ := pem.Decode([]byte(cert))
	c, err := x509.ParseCertificate(block.Bytes) // a nil block panics, as in ESO
	if err != nil {
		return "", err
	}
	return encodePkcs12(c, key, nil, pass)
}

func fullPemToPkcs12Pass(cert, key, pass string) (string, error) {
	block, rest := pem.Decode([]byte(cert))
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", err
	}
	cas, err := parseCaCerts(rest)
	if err != nil {
		return "", err
	}
	return encodePkcs12(c, key, cas, pass)
}

// parseCaCerts reads PEM certificates until no input is left: any text after the last block
// (even a second newline) is a nil block, and a panic, as in ESO.
func parseCaCerts(in []byte) ([]*x509.Certificate, error) {
	all := []*x509.Certificate{}
	for len(in) > 0 {
		var block *pem.Block
		block, in = pem.Decode(in)
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		all = append(all, c)
	}
	return all, nil
}

func encodePkcs12(c *x509.Certificate, key string, cas []*x509.Certificate, pass string) (string, error) {
	block, _ := pem.Decode([]byte(key))
	k, err := parsePrivateKey(block.Bytes)
	if err != nil {
		return "", err
	}
	pfx, err := gopkcs12.Modern.Encode(k, c, cas, pass)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(pfx), nil
}

func pemTruststoreToPKCS12Pass(certs, pass string) (string, error) {
	all, err := parseCaCerts([]byte(certs))
	if err != nil {
		return "", err
	}
	pfx, err := gopkcs12.Modern.EncodeTrustStore(all, pass)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(pfx), nil
}

// trimJunk drops what comes before the first "-----BEGIN", as ESO does before filterPEM and
// certSANs (pem.Decode used to skip it).
func trimJunk(in string) string {
	if i := strings.Index(in, "-----BEGIN"); i >= 0 {
		return in[i:]
	}
	return in
}

func filterPEM(kind, in string) (string, error) {
	data := []byte(trimJunk(in))
	var out []byte
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			if len(out) == 0 && len(rest) != 0 {
				return "", errors.New("error filtering pem: found junk")
			}
			return string(out), nil
		}
		data = rest
		if strings.EqualFold(block.Type, kind) {
			out = append(out, pem.EncodeToMemory(block)...)
		}
	}
}

// orderChain orders certificates leaf first, each followed by its issuer (by key identifiers).
func orderChain(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			break
		}
		data = rest
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	parent := make([]int, len(certs))
	isParent := make([]bool, len(certs))
	for i := range certs {
		parent[i] = -1
		for j := range certs {
			if i != j && bytes.Equal(certs[i].AuthorityKeyId, certs[j].SubjectKeyId) {
				isParent[j] = true
				parent[i] = j
				break
			}
		}
	}
	leaf := -1
	for i := range certs {
		if !isParent[i] {
			if leaf >= 0 {
				return nil, errors.New("found multiple leaf or disjunct certificates")
			}
			leaf = i
		}
	}
	if leaf < 0 {
		return nil, errors.New("no leaf certificate found")
	}
	var chain []*x509.Certificate
	for n := leaf; n >= 0; n = parent[n] {
		if len(chain) >= len(certs) {
			return nil, errors.New("constructing chain resulted in cycle")
		}
		chain = append(chain, certs[n])
	}
	return chain, nil
}

func isRoot(c *x509.Certificate) bool {
	return c.AuthorityKeyId == nil || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId)
}

func filterCertChain(kind, in string) (string, error) {
	chain, err := orderChain([]byte(in))
	if err != nil {
		return "", err
	}
	switch kind {
	case "leaf":
		if c := chain[0]; c.AuthorityKeyId != nil && !bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId) {
			return pemBlock(c.Raw, "CERTIFICATE"), nil
		}
	case "intermediate":
		var out string
		for _, c := range chain[min(1, len(chain)):] {
			if isRoot(c) {
				break
			}
			out += pemBlock(c.Raw, "CERTIFICATE")
		}
		return out, nil
	case "root":
		if c := chain[len(chain)-1]; isRoot(c) {
			return pemBlock(c.Raw, "CERTIFICATE"), nil
		}
	}
	return "", nil
}

// certSANs lists the subject alternative names of the first certificate: DNS names, IP
// addresses, email addresses and URIs, in that order.
func certSANs(in string) ([]string, error) {
	block, _ := pem.Decode([]byte(trimJunk(in)))
	if block == nil {
		return nil, errors.New("failed to decode PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("failed to parse certificate: %w", err)
	}
	sans := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		sans = append(sans, ip.String())
	}
	sans = append(sans, c.EmailAddresses...)
	for _, u := range c.URIs {
		sans = append(sans, u.String())
	}
	return sans, nil
}

func jwkPublicKeyPem(in string) (string, error) {
	k, err := jwk.ParseKey([]byte(in))
	if err != nil {
		return "", err
	}
	var raw any
	if err := k.Raw(&raw); err != nil {
		return "", err
	}
	der, err := x509.MarshalPKIXPublicKey(raw)
	if err != nil {
		return "", err
	}
	return pemBlock(der, "PUBLIC KEY"), nil
}

func jwkPrivateKeyPem(in string) (string, error) {
	k, err := jwk.ParseKey([]byte(in))
	if err != nil {
		return "", err
	}
	var raw any
	if err := k.Raw(&raw); err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(raw)
	if err != nil {
		return "", err
	}
	return pemBlock(der, "PRIVATE KEY"), nil
}

func toYAML(v any) string {
	out, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

func fromYAML(in string) map[string]any {
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(in), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

// rsaDecrypt: scheme "None" gives the input back; "RSA-OAEP" decrypts with the hash named (SHA1,
// SHA256, SHA512; any other name is SHA-256) and no label; other schemes are an error.
func rsaDecrypt(scheme, hashName, in, keyPEM string) (string, error) {
	switch scheme {
	case "None":
		return in, nil
	case "RSA-OAEP":
	default:
		return "", fmt.Errorf("decryption scheme %v is not supported", scheme)
	}
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		return "", errors.New("failed to decode PEM block")
	}
	k, err := parsePrivateKey(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("could not parse private key: %v", err)
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok {
		return "", errors.New("could not parse RSA private key")
	}
	var h hash.Hash
	switch hashName {
	case "SHA1":
		h = crypto.SHA1.New()
	case "SHA512":
		h = sha512.New()
	default:
		h = sha256.New()
	}
	plain, err := rsa.DecryptOAEP(h, nil, priv, []byte(in), nil)
	if err != nil {
		return "", fmt.Errorf("error decrypting data with RSA: %v", err)
	}
	return string(plain), nil
}

func hexdec(in string) string {
	b, err := hex.DecodeString(in)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// hashAlgorithm is a named string type as in ESO's sprig: text/template accepts a string literal for
// it, not a string value (a data value or a pipeline's result is "wrong type for value").
type hashAlgorithm string

// htpasswd is ESO's sprig's: "sha" gives Apache's {SHA} form, anything else bcrypt.
func htpasswd(user, pass string, algorithm hashAlgorithm) string {
	if strings.Contains(user, ":") {
		return fmt.Sprintf("invalid username: %s", user)
	}
	if algorithm == "sha" {
		sum := sha1.Sum([]byte(pass))
		return fmt.Sprintf("%s:{SHA}%s", user, base64.StdEncoding.EncodeToString(sum[:]))
	}
	return fmt.Sprintf("%s:%s", user, sprig.TxtFuncMap()["bcrypt"].(func(string) string)(pass))
}
