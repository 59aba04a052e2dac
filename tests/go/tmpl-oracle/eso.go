package main

// External Secrets Operator's own template functions (engine v2), written for this oracle from
// what ESO's template package does, with the libraries ESO uses (go-pkcs12, jwx, sigs.k8s.io/yaml).
// certSANs, rsaDecrypt, pemTruststoreToPKCS12* and hexdec follow ESO's documentation (their source
// was not available to read). htpasswd is sprig's two-argument one, as ESO's documentation uses it.

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"strings"
	"text/template"

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

func firstCert(in string) (*x509.Certificate, []byte, error) {
	block, rest := pem.Decode([]byte(in))
	if block == nil {
		return nil, nil, errors.New("no PEM data found")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	return c, rest, err
}

func pemToPkcs12Pass(cert, key, pass string) (string, error) {
	c, _, err := firstCert(cert)
	if err != nil {
		return "", err
	}
	return encodePkcs12(c, key, nil, pass)
}

func fullPemToPkcs12Pass(cert, key, pass string) (string, error) {
	c, rest, err := firstCert(cert)
	if err != nil {
		return "", err
	}
	var cas []*x509.Certificate
	for len(rest) > 0 {
		var ca *x509.Certificate
		ca, rest, err = firstCert(string(rest))
		if err != nil {
			return "", err
		}
		cas = append(cas, ca)
	}
	return encodePkcs12(c, key, cas, pass)
}

func encodePkcs12(c *x509.Certificate, key string, cas []*x509.Certificate, pass string) (string, error) {
	block, _ := pem.Decode([]byte(key))
	if block == nil {
		return "", errors.New("no PEM data found")
	}
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
	var all []*x509.Certificate
	rest := []byte(certs)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return "", err
		}
		all = append(all, c)
	}
	pfx, err := gopkcs12.Modern.EncodeTrustStore(all, pass)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(pfx), nil
}

func filterPEM(kind, in string) (string, error) {
	data := []byte(in)
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
	c, _, err := firstCert(in)
	if err != nil {
		return nil, err
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

func rsaDecrypt(scheme, hashName string, ciphertext any, keyPEM string) (string, error) {
	var ct []byte
	switch c := ciphertext.(type) {
	case string:
		ct = []byte(c)
	case []byte:
		ct = c
	default:
		return "", fmt.Errorf("ciphertext must be a string or bytes, got %T", ciphertext)
	}
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		return "", errors.New("failed to decode PEM private key")
	}
	k, err := parsePrivateKey(block.Bytes)
	if err != nil {
		return "", err
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok {
		return "", errors.New("private key is not an RSA key")
	}
	var h hash.Hash
	var ch crypto.Hash
	switch strings.ToUpper(hashName) {
	case "SHA1":
		h, ch = sha1.New(), crypto.SHA1
	case "SHA256":
		h, ch = sha256.New(), crypto.SHA256
	default:
		return "", fmt.Errorf("unsupported hash %q", hashName)
	}
	_ = ch
	var plain []byte
	switch scheme {
	case "RSA-OAEP":
		plain, err = rsa.DecryptOAEP(h, rand.Reader, priv, ct, nil)
	case "None":
		plain, err = rsa.DecryptPKCS1v15(rand.Reader, priv, ct)
	default:
		return "", fmt.Errorf("unsupported scheme %q", scheme)
	}
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

func hexdec(in string) (string, error) {
	b, err := hex.DecodeString(in)
	return string(b), err
}
