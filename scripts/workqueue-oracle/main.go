// Command workqueue-oracle runs traces of work-queue operations through client-go's util/workqueue (the copy
// vendored in Debian's kubernetes 1.20.2 source tree) and prints what client-go answered, so incluster_sdk's
// rate limiters and queue can be compared with it (tests/test_workqueue_oracle.py).
//
// It is built by scripts/install-kube-binaries.sh inside that tree (as cmd/workqueue-oracle). Protocol: one
// JSON request per line on stdin, one JSON answer per line on stdout, until EOF.
//
// A rate-limiter request:
//
//	{"limiter": SPEC, "ops": [{"op": "when"|"forget"|"num_requeues", "item": "a"} | {"op": "step", "ns": 1000}]}
//	SPEC = {"kind": "exponential", "base_ns": N, "max_ns": N} | {"kind": "fastslow", "fast_ns": N, "slow_ns": N,
//	        "attempts": N} | {"kind": "bucket", "qps": F, "burst": N} | {"kind": "max", "of": [SPEC, ...]} |
//	        {"kind": "default"}
//
// answers {"results": [...]}: a delay in nanoseconds for "when", a count for "num_requeues", null otherwise.
// client-go's ItemExponentialFailureRateLimiter, ItemFastSlowRateLimiter and MaxOfRateLimiter run as they are.
// The token bucket is golang.org/x/time/rate's Limiter, the one client-go's BucketRateLimiter wraps; its When
// is Reserve().Delay(), which reads the wall clock, so the oracle calls the same ReserveN(now, 1).DelayFrom(now)
// with a fake now that only "step" moves. "default" is DefaultControllerRateLimiter(): its parameters are read
// from the limiter client-go returns (so a changed client-go default shows), and its bucket is then driven by
// the fake clock as above. The answer to a "default" request also carries those parameters, as
// {"default": {"base_ns", "max_ns", "qps", "burst"}}.
//
// A queue request (workqueue.New(), client-go's Type: dirty and processing sets, no delays):
//
//	{"queue": [{"op": "add"|"done", "item": "a"} | {"op": "get"} | {"op": "len"} | {"op": "shutdown"}]}
//
// answers {"results": [...]}: for "get", the item, or "<empty>" when the queue is empty and not shut down
// (client-go would block: the oracle does not call Get), or "<shutdown>"; for "len", Len(); null otherwise.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"time"
	"unsafe"

	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"
)

type spec struct {
	Kind     string  `json:"kind"`
	BaseNs   int64   `json:"base_ns"`
	MaxNs    int64   `json:"max_ns"`
	FastNs   int64   `json:"fast_ns"`
	SlowNs   int64   `json:"slow_ns"`
	Attempts int     `json:"attempts"`
	QPS      float64 `json:"qps"`
	Burst    int     `json:"burst"`
	Of       []spec  `json:"of"`
}

type op struct {
	Op   string `json:"op"`
	Item string `json:"item"`
	Ns   int64  `json:"ns"`
}

type request struct {
	Limiter *spec `json:"limiter"`
	Ops     []op  `json:"ops"`
	Queue   []op  `json:"queue"`
}

type defaults struct {
	BaseNs int64   `json:"base_ns"`
	MaxNs  int64   `json:"max_ns"`
	QPS    float64 `json:"qps"`
	Burst  int     `json:"burst"`
}

type answer struct {
	Results []interface{} `json:"results,omitempty"`
	Default *defaults     `json:"default,omitempty"`
	Error   string        `json:"error,omitempty"`
}

// fakeClockBucket is client-go's BucketRateLimiter with the time passed in: When is Reserve().Delay() at now.
type fakeClockBucket struct {
	limiter *rate.Limiter
	now     *time.Time
}

func (b *fakeClockBucket) When(item interface{}) time.Duration {
	return b.limiter.ReserveN(*b.now, 1).DelayFrom(*b.now)
}
func (b *fakeClockBucket) NumRequeues(item interface{}) int { return 0 }
func (b *fakeClockBucket) Forget(item interface{})          {}

// field reads an unexported field of the struct p points to (the default limiter's parts have no getters).
func field(p interface{}, name string) reflect.Value {
	f := reflect.ValueOf(p).Elem().FieldByName(name)
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}

// readDefault takes DefaultControllerRateLimiter() apart: MaxOf(ItemExponential(base, max), Bucket(qps, burst)).
func readDefault() (defaults, error) {
	maxOf, ok := workqueue.DefaultControllerRateLimiter().(*workqueue.MaxOfRateLimiter)
	if !ok {
		return defaults{}, fmt.Errorf("DefaultControllerRateLimiter is not a MaxOfRateLimiter")
	}
	parts := field(maxOf, "limiters").Interface().([]workqueue.RateLimiter)
	if len(parts) != 2 {
		return defaults{}, fmt.Errorf("DefaultControllerRateLimiter has %d limiters, expected 2", len(parts))
	}
	exp, ok1 := parts[0].(*workqueue.ItemExponentialFailureRateLimiter)
	bucket, ok2 := parts[1].(*workqueue.BucketRateLimiter)
	if !ok1 || !ok2 {
		return defaults{}, fmt.Errorf("DefaultControllerRateLimiter's limiters are %T and %T", parts[0], parts[1])
	}
	return defaults{
		BaseNs: int64(field(exp, "baseDelay").Interface().(time.Duration)),
		MaxNs:  int64(field(exp, "maxDelay").Interface().(time.Duration)),
		QPS:    float64(bucket.Limiter.Limit()),
		Burst:  bucket.Limiter.Burst(),
	}, nil
}

func build(s spec, now *time.Time, d *defaults) (workqueue.RateLimiter, error) {
	switch s.Kind {
	case "exponential":
		return workqueue.NewItemExponentialFailureRateLimiter(time.Duration(s.BaseNs), time.Duration(s.MaxNs)), nil
	case "fastslow":
		return workqueue.NewItemFastSlowRateLimiter(time.Duration(s.FastNs), time.Duration(s.SlowNs), s.Attempts), nil
	case "bucket":
		return &fakeClockBucket{rate.NewLimiter(rate.Limit(s.QPS), s.Burst), now}, nil
	case "max":
		var parts []workqueue.RateLimiter
		for _, sub := range s.Of {
			part, err := build(sub, now, d)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part)
		}
		return workqueue.NewMaxOfRateLimiter(parts...), nil
	case "default":
		got, err := readDefault()
		if err != nil {
			return nil, err
		}
		*d = got
		return workqueue.NewMaxOfRateLimiter(
			workqueue.NewItemExponentialFailureRateLimiter(time.Duration(got.BaseNs), time.Duration(got.MaxNs)),
			&fakeClockBucket{rate.NewLimiter(rate.Limit(got.QPS), got.Burst), now},
		), nil
	}
	return nil, fmt.Errorf("unknown limiter kind %q", s.Kind)
}

func runLimiter(s spec, ops []op) answer {
	now := time.Unix(1000000, 0)
	var d defaults
	limiter, err := build(s, &now, &d)
	if err != nil {
		return answer{Error: err.Error()}
	}
	results := make([]interface{}, 0, len(ops))
	for _, o := range ops {
		switch o.Op {
		case "when":
			results = append(results, int64(limiter.When(o.Item)))
		case "forget":
			limiter.Forget(o.Item)
			results = append(results, nil)
		case "num_requeues":
			results = append(results, limiter.NumRequeues(o.Item))
		case "step":
			now = now.Add(time.Duration(o.Ns))
			results = append(results, nil)
		default:
			return answer{Error: fmt.Sprintf("unknown limiter op %q", o.Op)}
		}
	}
	a := answer{Results: results}
	if s.Kind == "default" {
		a.Default = &d
	}
	return a
}

func runQueue(ops []op) answer {
	q := workqueue.New()
	defer q.ShutDown()
	results := make([]interface{}, 0, len(ops))
	for _, o := range ops {
		switch o.Op {
		case "add":
			q.Add(o.Item)
			results = append(results, nil)
		case "done":
			q.Done(o.Item)
			results = append(results, nil)
		case "len":
			results = append(results, q.Len())
		case "shutdown":
			q.ShutDown()
			results = append(results, nil)
		case "get":
			if q.Len() == 0 && !q.ShuttingDown() {
				results = append(results, "<empty>")
				continue
			}
			item, shutdown := q.Get()
			if shutdown {
				results = append(results, "<shutdown>")
			} else {
				results = append(results, item)
			}
		default:
			return answer{Error: fmt.Sprintf("unknown queue op %q", o.Op)}
		}
	}
	return answer{Results: results}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		var a answer
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			a = answer{Error: "bad request: " + err.Error()}
		} else if req.Limiter != nil {
			a = runLimiter(*req.Limiter, req.Ops)
		} else if req.Queue != nil {
			a = runQueue(req.Queue)
		} else {
			a = answer{Error: "bad request: neither limiter nor queue"}
		}
		if err := out.Encode(a); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
