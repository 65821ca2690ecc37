// Command informer-oracle runs scripted list/watch sessions through client-go's shared informer (the copy
// vendored in Debian's kubernetes 1.20.2 source tree) and prints the handler calls client-go made, so that
// incluster_sdk's informer can be compared with it (tests/test_informer_oracle.py).
//
// It is built by scripts/install-kube-binaries.sh inside that tree (as cmd/informer-oracle). Protocol: one JSON
// request per line on stdin, one JSON answer per line on stdout, until EOF.
//
// A request is {"scripts": [SCRIPT, ...]}; the scripts run concurrently, each through its own informer
// (cache.NewSharedIndexInformer on a cache.ListWatch, no resync), and the answer is {"results": [CALLS, ...]}
// in the same order. A SCRIPT is {"segments": [SEGMENT, ...]}, one SEGMENT per connection the informer makes:
//
//	{"list": {"rv": "10", "items": [OBJ, ...]} | null, "events": [EVENT, ...], "end": "close" | "gone" | "end"}
//	OBJ = {"name": "a", "rv": "3", "v": "data"}   a ConfigMap ns/NAME, resourceVersion RV, data {"v": V}
//	EVENT = {"type": "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK", "name": ..., "rv": ..., "v": ...}
//
// "list" is what the informer's LIST returns (the first segment, and the one after a "gone", must have one;
// the others must not: a closed watch is resumed without a list). "events" go down the watch that follows.
// "close" ends the watch normally (the reflector watches again from the last resourceVersion), "gone" sends an
// ERROR event with a 410 Expired Status (the reflector lists again, after its backoff of about a second:
// client-go's 800 ms initial relist backoff), "end" ends the script.
//
// Quiescence: client-go delivers calls asynchronously (reflector -> DeltaFIFO -> processor -> listener), and
// the DeltaFIFO merges a key's queued deltas, so where a segment ends is not observable from outside. Every
// list therefore carries a marker object (zz-marker/marker) with a new resourceVersion, each segment's watch
// ends with a MODIFIED of it, and the oracle waits for the handler to see each before it goes on (a relist
// calls OnUpdate for every object it still has: client-go's listeners are all "syncing" when no resync period
// is set). The marker's calls are not reported.
//
// CALLS = [{"op": "add", "key": "ns/a", "rv": "3", "v": "x"} | {"op": "update", "key", "old_rv", "rv", "v"} |
// {"op": "delete", "key", "rv", "v", "tombstone": true if a DeletedFinalStateUnknown}, ...] in the order the
// handler got them; or {"error": "..."} for the whole answer.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

type object struct {
	Type string `json:"type"`
	Name string `json:"name"`
	RV   string `json:"rv"`
	V    string `json:"v"`
}

type list struct {
	RV    string   `json:"rv"`
	Items []object `json:"items"`
}

type segment struct {
	List   *list    `json:"list"`
	Events []object `json:"events"`
	End    string   `json:"end"`
}

type script struct {
	Segments []segment `json:"segments"`
}

type call struct {
	Op        string `json:"op"`
	Key       string `json:"key"`
	RV        string `json:"rv"`
	OldRV     string `json:"old_rv,omitempty"`
	V         string `json:"v"`
	Tombstone bool   `json:"tombstone,omitempty"`
}

const (
	markerNamespace = "zz-marker"
	markerName      = "marker"
	// How long one step may take before the script is reported as stuck: a relist waits for the reflector's
	// backoff (0.8-1.6 s with jitter in client-go 1.20), so this is several times that.
	stepTimeout = 15 * time.Second
)

func configMap(namespace, name, rv, v string) *v1.ConfigMap {
	return &v1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, ResourceVersion: rv},
		Data:       map[string]string{"v": v},
	}
}

type recorder struct {
	mu      sync.Mutex
	calls   []call
	markers chan string
}

func (r *recorder) record(op string, obj interface{}, old interface{}) {
	tombstone := false
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, tombstone = d.Obj, true
	}
	cm := obj.(*v1.ConfigMap)
	if cm.Namespace == markerNamespace {
		if op != "delete" {
			r.markers <- cm.ResourceVersion
		}
		return
	}
	c := call{Op: op, Key: cm.Namespace + "/" + cm.Name, RV: cm.ResourceVersion, V: cm.Data["v"], Tombstone: tombstone}
	if old != nil {
		c.OldRV = old.(*v1.ConfigMap).ResourceVersion
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

func waitMarker(rec *recorder, rv int) error {
	want := fmt.Sprintf("m%d", rv)
	for seen := ""; seen != want; {
		select {
		case seen = <-rec.markers:
		case <-time.After(stepTimeout):
			return fmt.Errorf("the handler did not see the marker %s", want)
		}
	}
	return nil
}

func run(s script) ([]call, error) {
	lists := make(chan *v1.ConfigMapList)
	watchers := make(chan *watch.FakeWatcher)
	done := make(chan struct{})
	markerRV := 0
	marker := func() *v1.ConfigMap { return configMap(markerNamespace, markerName, fmt.Sprintf("m%d", markerRV), "") }
	lw := &cache.ListWatch{
		ListFunc: func(metav1.ListOptions) (runtime.Object, error) {
			select {
			case l := <-lists:
				return l, nil
			case <-done:
				return nil, fmt.Errorf("script over")
			}
		},
		WatchFunc: func(metav1.ListOptions) (watch.Interface, error) {
			w := watch.NewFake()
			select {
			case watchers <- w:
				return w, nil
			case <-done:
				return nil, fmt.Errorf("script over")
			}
		},
	}
	rec := &recorder{markers: make(chan string, 16)}
	informer := cache.NewSharedIndexInformer(lw, &v1.ConfigMap{}, 0, cache.Indexers{})
	informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { rec.record("add", obj, nil) },
		UpdateFunc: func(old, obj interface{}) { rec.record("update", obj, old) },
		DeleteFunc: func(obj interface{}) { rec.record("delete", obj, nil) },
	})
	stop := make(chan struct{})
	go informer.Run(stop)
	defer close(stop)
	defer close(done)

	for i, seg := range s.Segments {
		if seg.List != nil {
			l := &v1.ConfigMapList{ListMeta: metav1.ListMeta{ResourceVersion: seg.List.RV}}
			for _, o := range seg.List.Items {
				l.Items = append(l.Items, *configMap("ns", o.Name, o.RV, o.V))
			}
			markerRV++
			l.Items = append(l.Items, *marker())
			select {
			case lists <- l:
			case <-time.After(stepTimeout):
				return nil, fmt.Errorf("segment %d: the informer did not list", i)
			}
			// The list's marker (an add, or an update even though unchanged: see the package comment) must be
			// handled before the watch's events come, or the watch's marker would join its queued delta, ahead
			// of the events it is meant to follow.
			if err := waitMarker(rec, markerRV); err != nil {
				return nil, fmt.Errorf("segment %d: list: %v", i, err)
			}
		}
		var w *watch.FakeWatcher
		select {
		case w = <-watchers:
		case <-time.After(stepTimeout):
			return nil, fmt.Errorf("segment %d: the informer did not watch", i)
		}
		for _, e := range seg.Events {
			obj := configMap("ns", e.Name, e.RV, e.V)
			switch e.Type {
			case "ADDED":
				w.Add(obj)
			case "MODIFIED":
				w.Modify(obj)
			case "DELETED":
				w.Delete(obj)
			case "BOOKMARK":
				w.Action(watch.Bookmark, &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{ResourceVersion: e.RV}})
			default:
				return nil, fmt.Errorf("segment %d: unknown event type %q", i, e.Type)
			}
		}
		markerRV++
		w.Modify(marker())
		if err := waitMarker(rec, markerRV); err != nil {
			return nil, fmt.Errorf("segment %d: watch: %v", i, err)
		}
		switch seg.End {
		case "close":
			w.Stop()
		case "gone":
			w.Error(&metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired,
				Message: "too old resource version"})
		case "end":
		default:
			return nil, fmt.Errorf("segment %d: unknown end %q", i, seg.End)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]call{}, rec.calls...), nil
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req struct {
			Scripts []script `json:"scripts"`
		}
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			_ = out.Encode(map[string]string{"error": err.Error()})
			continue
		}
		results := make([][]call, len(req.Scripts))
		errs := make([]error, len(req.Scripts))
		var wg sync.WaitGroup
		for i, s := range req.Scripts {
			wg.Add(1)
			go func(i int, s script) {
				defer wg.Done()
				results[i], errs[i] = run(s)
			}(i, s)
		}
		wg.Wait()
		failed := ""
		for i, err := range errs {
			if err != nil {
				failed += fmt.Sprintf("script %d: %v; ", i, err)
			}
		}
		if failed != "" {
			_ = out.Encode(map[string]string{"error": failed})
			continue
		}
		for i := range results {
			if results[i] == nil {
				results[i] = []call{}
			}
		}
		_ = out.Encode(map[string]interface{}{"results": results})
	}
}
