// Command informer-bench runs a client-go shared informer (the reference) against a real API server and
// reports, as one JSON line, what benchmarks/informer_sync.py compares incluster_sdk's informer with:
//
//	sync_seconds     from Run until HasSynced and every initial add delivered to a handler
//	objects          objects in the store once synced
//	heap_bytes       live Go heap after a forced GC once synced (runtime.MemStats.HeapAlloc)
//	rss_bytes        resident memory once synced and collected (/proc/self/status VmRSS)
//	peak_rss_bytes   the highest resident memory so far, i.e. during the sync (VmHWM)
//
// Built by `bash scripts/install-kube-binaries.sh --bench` against the client-go vendored in Debian's
// kubernetes 1.20.2 tree (the tree kube-apiserver is built from), cached beside kube-apiserver.
//
//	informer-bench --kubeconfig admin.kubeconfig --namespace bench [--protobuf] [--lag-seconds S]
//
// With --lag-seconds it then watches for that long and prints a second line, {"seen": [[sent, got], ...]}:
// for each update whose annotation bench/sent holds its send time (Unix seconds, as text), when the handler
// got it. (benchmarks/informer_sync.py patches pods meanwhile.)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// procStatusBytes reads one "Key:   123 kB" line of /proc/self/status, in bytes.
func procStatusBytes(key string) int64 {
	data, err := ioutil.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, key+":") {
			fields := strings.Fields(line[len(key)+1:])
			if len(fields) >= 1 {
				kb, err := strconv.ParseInt(fields[0], 10, 64)
				if err == nil {
					return kb * 1024
				}
			}
		}
	}
	return -1
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file (the local cluster's admin kubeconfig)")
	namespace := flag.String("namespace", "bench", "namespace to watch")
	protobuf := flag.Bool("protobuf", false, "ask for protobuf instead of JSON")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	lagSeconds := flag.Float64("lag-seconds", 0, "then record update lags for this many seconds")
	flag.Parse()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubeconfig:", err)
		os.Exit(2)
	}
	if *protobuf {
		cfg.ContentType = "application/vnd.kubernetes.protobuf"
		cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	}
	clientset := kubernetes.NewForConfigOrDie(cfg)
	lw := cache.NewListWatchFromClient(clientset.CoreV1().RESTClient(), "pods", *namespace, fields.Everything())
	informer := cache.NewSharedIndexInformer(lw, &v1.Pod{}, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	var adds int64
	var seenMu sync.Mutex
	seen := [][2]interface{}{}
	informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { atomic.AddInt64(&adds, 1) },
		UpdateFunc: func(old, new interface{}) {
			sent := new.(*v1.Pod).Annotations["bench/sent"]
			if sent == "" {
				return
			}
			got := float64(time.Now().UnixNano()) / 1e9
			seenMu.Lock()
			seen = append(seen, [2]interface{}{sent, got})
			seenMu.Unlock()
		},
	})

	stop := make(chan struct{})
	start := time.Now()
	go informer.Run(stop)
	deadline := time.After(*timeout)
	for {
		// In 1.20 HasSynced means the store holds the initial list; the handler may still be behind.
		if informer.HasSynced() && atomic.LoadInt64(&adds) >= int64(len(informer.GetStore().ListKeys())) {
			break
		}
		select {
		case <-deadline:
			fmt.Fprintln(os.Stderr, "timed out before sync")
			os.Exit(1)
		case <-time.After(time.Millisecond):
		}
	}
	synced := time.Since(start)
	peak := procStatusBytes("VmHWM")
	runtime.GC()
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	out := map[string]interface{}{
		"sync_seconds":   synced.Seconds(),
		"objects":        len(informer.GetStore().ListKeys()),
		"heap_bytes":     stats.HeapAlloc,
		"rss_bytes":      procStatusBytes("VmRSS"),
		"peak_rss_bytes": peak,
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
	if *lagSeconds > 0 {
		seenMu.Lock()
		seen = seen[:0]
		seenMu.Unlock()
		time.Sleep(time.Duration(*lagSeconds * float64(time.Second)))
		seenMu.Lock()
		err := json.NewEncoder(os.Stdout).Encode(map[string]interface{}{"seen": seen})
		seenMu.Unlock()
		if err != nil {
			os.Exit(1)
		}
	}
	close(stop)
}
