// promql-eval: Prometheus' own PromQL engine and alerting rules over scrapes of a /metrics endpoint, for
// the deploy suite's monitoring tests (tests/deploy/monitoring.rs). tests/env/build builds it.
//
//	promql-eval [--epoch UNIX_SECONDS] [--scrape SECONDS=FILE]... [--label NAME=VALUE]... [--honor-labels]
//	            [--at SECONDS] [--eval-interval DURATION] [--rules FILE]... [--query EXPR]...
//
// Each --scrape is one scrape of the Prometheus text exposition format taken SECONDS after the epoch
// (default 2026-01-01T00:00:00Z). The samples get the target labels (--label, e.g. job and instance) as a
// scrape attaches them: with honor_labels: false (the default) a scraped label of the same name becomes
// exported_NAME, with --honor-labels the scraped label wins; every
// scrape adds `up{target labels} 1`, and a series missing from a scrape gets a staleness marker, as
// Prometheus' scrape loop writes them. The samples are kept in memory (no TSDB).
//
// Every --query is evaluated as an instant query at --at (default: the last scrape). Every alerting rule
// of each --rules file (Prometheus rule groups in YAML or JSON; a .jsonnet or .libsonnet file is evaluated
// with go-jsonnet first and must yield such a document, or a string holding one, like a monitoring
// mixin's lib/alerts.jsonnet) is evaluated by Prometheus' rules package from the first scrape to --at every
// --eval-interval (default 15s), so `for:` holds apply; the result is the rule's active alerts at --at, with
// their labels and rendered annotations.
//
// Output (stdout), JSON:
//
//	{"queries": [{"expr": "...", "error": "...", "result": [{"labels": {...}, "value": 1}]}],
//	 "rules": [{"group": "...", "alert": "...", "error": "...",
//	            "alerts": [{"state": "firing", "labels": {...}, "annotations": {...}, "value": 1}]}]}
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-jsonnet"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var scrapes, targetLabels, ruleFiles, queries multi
	epochSecs := flag.Int64("epoch", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), "time of a scrape at SECONDS=0, in Unix seconds")
	honor := flag.Bool("honor-labels", false, "scraped labels win over target labels (honor_labels: true)")
	at := flag.Float64("at", math.NaN(), "evaluation time, seconds after the epoch (default: the last scrape)")
	interval := flag.Duration("eval-interval", 15*time.Second, "rule evaluation interval")
	flag.Var(&scrapes, "scrape", "SECONDS=FILE: a scrape in the text exposition format")
	flag.Var(&targetLabels, "label", "NAME=VALUE: a target label")
	flag.Var(&ruleFiles, "rules", "FILE: Prometheus rule groups (YAML, JSON or jsonnet)")
	flag.Var(&queries, "query", "EXPR: a PromQL expression")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments: %q", flag.Args()))
	}

	epoch := time.Unix(*epochSecs, 0).UTC()
	target := labels.NewBuilder(labels.EmptyLabels())
	for _, l := range targetLabels {
		name, val, ok := strings.Cut(l, "=")
		if !ok {
			fail(fmt.Errorf("--label %q: want NAME=VALUE", l))
		}
		target.Set(name, val)
	}
	db := newMemStorage()
	var first, last time.Time
	for i, s := range scrapes {
		secs, file, ok := strings.Cut(s, "=")
		if !ok {
			fail(fmt.Errorf("--scrape %q: want SECONDS=FILE", s))
		}
		offset, err := strconv.ParseFloat(secs, 64)
		if err != nil {
			fail(fmt.Errorf("--scrape %q: %w", s, err))
		}
		ts := epoch.Add(time.Duration(offset * float64(time.Second)))
		if i > 0 && !ts.After(last) {
			fail(fmt.Errorf("--scrape %q: scrapes must be given in time order", s))
		}
		if i == 0 {
			first = ts
		}
		last = ts
		body, err := os.ReadFile(file)
		if err != nil {
			fail(err)
		}
		if err := db.scrape(body, ts.UnixMilli(), target.Labels(), *honor); err != nil {
			fail(fmt.Errorf("%s: %w", file, err))
		}
	}
	if len(scrapes) == 0 {
		fail(errors.New("no --scrape given"))
	}
	evalAt := last
	if !math.IsNaN(*at) {
		evalAt = epoch.Add(time.Duration(*at * float64(time.Second)))
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	promParser := parser.NewParser(parser.Options{})
	engine := promql.NewEngine(promql.EngineOpts{
		Logger:        logger,
		MaxSamples:    50_000_000,
		Timeout:       time.Minute,
		LookbackDelta: 5 * time.Minute,
		Parser:        promParser,
	})
	ctx := context.Background()
	query := rules.EngineQueryFunc(engine, db)

	out := output{Queries: []queryResult{}, Rules: []ruleResult{}}
	for _, q := range queries {
		res := queryResult{Expr: q, Result: []sample{}}
		vec, err := query(ctx, q, evalAt)
		if err != nil {
			res.Error = err.Error()
		}
		for _, s := range vec {
			res.Result = append(res.Result, sample{Labels: s.Metric.Map(), Value: jsonFloat(s.F)})
		}
		out.Queries = append(out.Queries, res)
	}

	externalURL, _ := url.Parse("http://prometheus.invalid")
	for _, file := range ruleFiles {
		content, err := ruleDocument(file)
		if err != nil {
			fail(err)
		}
		groups, errs := rulefmt.Parse(content, false, model.UTF8Validation, promParser, logger)
		if len(errs) > 0 {
			fail(fmt.Errorf("%s: %w", file, errors.Join(errs...)))
		}
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue // recording rules: not evaluated
				}
				res := ruleResult{Group: g.Name, Alert: r.Alert, Alerts: []alert{}}
				expr, err := promParser.ParseExpr(r.Expr)
				if err != nil {
					res.Error = err.Error()
					out.Rules = append(out.Rules, res)
					continue
				}
				rule := rules.NewAlertingRule(r.Alert, expr, time.Duration(r.For), time.Duration(r.KeepFiringFor),
					labels.FromMap(r.Labels), labels.FromMap(r.Annotations), labels.EmptyLabels(), "", true, logger)
				for ts := first; !ts.After(evalAt); ts = ts.Add(*interval) {
					if _, err := rule.Eval(ctx, 0, ts, query, externalURL, 0); err != nil {
						res.Error = err.Error()
						break
					}
				}
				if res.Error == "" {
					// The last step may fall before --at: evaluate at --at itself too.
					if _, err := rule.Eval(ctx, 0, evalAt, query, externalURL, 0); err != nil {
						res.Error = err.Error()
					}
				}
				for _, a := range rule.ActiveAlerts() {
					res.Alerts = append(res.Alerts, alert{
						State:       a.State.String(),
						Labels:      a.Labels.Map(),
						Annotations: a.Annotations.Map(),
						Value:       jsonFloat(a.Value),
					})
				}
				sort.Slice(res.Alerts, func(i, j int) bool {
					return labels.FromMap(res.Alerts[i].Labels).String() < labels.FromMap(res.Alerts[j].Labels).String()
				})
				out.Rules = append(out.Rules, res)
			}
		}
	}

	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "promql-eval:", err)
	os.Exit(2)
}

type output struct {
	Queries []queryResult `json:"queries"`
	Rules   []ruleResult  `json:"rules"`
}

type queryResult struct {
	Expr   string   `json:"expr"`
	Error  string   `json:"error,omitempty"`
	Result []sample `json:"result"`
}

type sample struct {
	Labels map[string]string `json:"labels"`
	Value  jsonFloat         `json:"value"`
}

type ruleResult struct {
	Group  string  `json:"group"`
	Alert  string  `json:"alert"`
	Error  string  `json:"error,omitempty"`
	Alerts []alert `json:"alerts"`
}

type alert struct {
	State       string            `json:"state"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Value       jsonFloat         `json:"value"`
}

// jsonFloat is a float that JSON can carry: NaN and infinities become strings, as in Prometheus' API.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return json.Marshal(strconv.FormatFloat(v, 'f', -1, 64))
	}
	return json.Marshal(v)
}

// ruleDocument is the rule-groups document of file: its content, or for jsonnet its evaluation (a
// string result is the document itself, as `jsonnet -S` prints it).
func ruleDocument(file string) ([]byte, error) {
	content, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	switch filepath.Ext(file) {
	case ".jsonnet", ".libsonnet":
		vm := jsonnet.MakeVM()
		vm.Importer(&jsonnet.FileImporter{JPaths: []string{filepath.Dir(file)}})
		js, err := vm.EvaluateAnonymousSnippet(file, string(content))
		if err != nil {
			return nil, err
		}
		var s string
		if json.Unmarshal([]byte(js), &s) == nil {
			return []byte(s), nil
		}
		return []byte(js), nil
	}
	return content, nil
}

// memStorage holds float samples in memory, one slice per series, in time order.
type memStorage struct {
	series map[string]*memSeries
	// present: the series of the previous scrape (for staleness markers).
	present map[string]bool
}

type memSeries struct {
	labels  labels.Labels
	samples []chunks.Sample
}

func newMemStorage() *memStorage {
	return &memStorage{series: map[string]*memSeries{}, present: map[string]bool{}}
}

func (m *memStorage) add(l labels.Labels, t int64, v float64) {
	key := l.String()
	s, ok := m.series[key]
	if !ok {
		s = &memSeries{labels: l}
		m.series[key] = s
	}
	s.samples = append(s.samples, fsample{t: t, f: v})
}

// scrape stores one scrape of the text exposition format taken at t (ms) of a target with labels target.
func (m *memStorage) scrape(body []byte, t int64, target labels.Labels, honor bool) error {
	p, err := textparse.New(body, "text/plain; version=0.0.4", labels.NewSymbolTable(), textparse.ParserOptions{})
	if err != nil {
		return err
	}
	now := map[string]bool{}
	for {
		entry, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if entry != textparse.EntrySeries {
			continue
		}
		_, ts, v := p.Series()
		if ts != nil {
			return errors.New("samples with explicit timestamps are not supported")
		}
		var scraped labels.Labels
		p.Labels(&scraped)
		l := withTarget(scraped, target, honor)
		now[l.String()] = true
		m.add(l, t, v)
	}
	up := labels.NewBuilder(target).Set(labels.MetricName, "up").Labels()
	now[up.String()] = true
	m.add(up, t, 1)
	for key := range m.present {
		if !now[key] {
			m.add(m.series[key].labels, t, math.Float64frombits(value.StaleNaN))
		}
	}
	m.present = now
	return nil
}

// withTarget attaches the target labels to scraped ones as a scrape with honor_labels does.
func withTarget(scraped, target labels.Labels, honor bool) labels.Labels {
	b := labels.NewBuilder(scraped)
	target.Range(func(l labels.Label) {
		v := scraped.Get(l.Name)
		switch {
		case v == "":
			b.Set(l.Name, l.Value)
		case !honor:
			b.Set("exported_"+l.Name, v)
			b.Set(l.Name, l.Value)
		}
	})
	return b.Labels()
}

func (m *memStorage) Querier(mint, maxt int64) (storage.Querier, error) {
	return &memQuerier{m: m, mint: mint, maxt: maxt}, nil
}

type memQuerier struct {
	m          *memStorage
	mint, maxt int64
}

func (q *memQuerier) matching(matchers []*labels.Matcher) []*memSeries {
	var out []*memSeries
	for _, s := range q.m.series {
		ok := true
		for _, matcher := range matchers {
			if !matcher.Matches(s.labels.Get(matcher.Name)) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].labels, out[j].labels) < 0 })
	return out
}

func (q *memQuerier) Select(_ context.Context, _ bool, _ *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
	var list []storage.Series
	for _, s := range q.matching(matchers) {
		var in []chunks.Sample
		for _, smp := range s.samples {
			if smp.T() >= q.mint && smp.T() <= q.maxt {
				in = append(in, smp)
			}
		}
		if len(in) > 0 {
			list = append(list, storage.NewListSeries(s.labels, in))
		}
	}
	return &listSet{list: list, i: -1}
}

func (q *memQuerier) LabelValues(_ context.Context, name string, _ *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	seen := map[string]bool{}
	for _, s := range q.matching(matchers) {
		if v := s.labels.Get(name); v != "" {
			seen[v] = true
		}
	}
	return sortedKeys(seen), nil, nil
}

func (q *memQuerier) LabelNames(_ context.Context, _ *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	seen := map[string]bool{}
	for _, s := range q.matching(matchers) {
		s.labels.Range(func(l labels.Label) { seen[l.Name] = true })
	}
	return sortedKeys(seen), nil, nil
}

func (q *memQuerier) Close() error { return nil }

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type listSet struct {
	list []storage.Series
	i    int
}

func (s *listSet) Next() bool                        { s.i++; return s.i < len(s.list) }
func (s *listSet) At() storage.Series                { return s.list[s.i] }
func (s *listSet) Err() error                        { return nil }
func (s *listSet) Warnings() annotations.Annotations { return nil }

// fsample is a float sample.
type fsample struct {
	t int64
	f float64
}

func (s fsample) T() int64                      { return s.t }
func (s fsample) ST() int64                     { return 0 }
func (s fsample) F() float64                    { return s.f }
func (s fsample) H() *histogram.Histogram       { return nil }
func (s fsample) FH() *histogram.FloatHistogram { return nil }
func (s fsample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s fsample) Copy() chunks.Sample           { return s }
