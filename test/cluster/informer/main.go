// pod-metrics-informer: a client-go informer on PodMetrics (metrics.k8s.io/v1beta1) through the
// aggregator, as controllers would run one. It lists and watches for --duration and checks,
// every --check-every, that its store holds what a fresh List returns (same objects, same
// timestamps and usage; the informer may lag a window by a moment, so each check retries for a
// few seconds). It reports the windows (resourceVersions) its updates came with and whether
// resourceVersions went back (a server restart, after which the reflector must relist).
//
// Exit status 0 when the last check passed, updates came from at least --min-windows windows,
// and, with --expect-restart, the resourceVersion went back at least once and the store was in
// sync after that. Lines start with "informer:" for the calling script.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

func summary(p *metricsv1beta1.PodMetrics) string {
	s := p.Timestamp.UTC().Format(time.RFC3339)
	for _, c := range p.Containers {
		s += fmt.Sprintf(" %s=%s/%s", c.Name, c.Usage.Cpu().String(), c.Usage.Memory().String())
	}
	return s
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig")
	namespace := flag.String("namespace", "", "namespace to watch (empty: all)")
	duration := flag.Duration("duration", 90*time.Second, "how long to run")
	checkEvery := flag.Duration("check-every", 10*time.Second, "time between store checks")
	minWindows := flag.Int("min-windows", 3, "windows (resourceVersions) updates must come from")
	expectRestart := flag.Bool("expect-restart", false, "require a resourceVersion going back")
	flag.Parse()

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Println("informer: kubeconfig:", err)
		os.Exit(2)
	}
	client := metricsclient.NewForConfigOrDie(config)
	pods := client.MetricsV1beta1().PodMetricses(*namespace)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return pods.Watch(ctx, o)
		},
	}
	informer := cache.NewSharedIndexInformer(lw, &metricsv1beta1.PodMetrics{}, 0, cache.Indexers{})

	var mu sync.Mutex
	windows := map[int]bool{}
	lastRV, wentBack, adds, updates, deletes := 0, 0, 0, 0, 0
	note := func(obj interface{}) {
		p, ok := obj.(*metricsv1beta1.PodMetrics)
		if !ok {
			return
		}
		rv, err := strconv.Atoi(p.ResourceVersion)
		if err != nil {
			return
		}
		if rv < lastRV {
			wentBack++
			fmt.Printf("informer: resourceVersion went back %d -> %d (server restarted)\n", lastRV, rv)
		}
		lastRV = rv
	}
	informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			mu.Lock()
			defer mu.Unlock()
			adds++
			note(obj)
		},
		UpdateFunc: func(_, obj interface{}) {
			mu.Lock()
			defer mu.Unlock()
			updates++
			if p, ok := obj.(*metricsv1beta1.PodMetrics); ok {
				if rv, err := strconv.Atoi(p.ResourceVersion); err == nil {
					windows[rv] = true
				}
			}
			note(obj)
		},
		DeleteFunc: func(obj interface{}) {
			mu.Lock()
			defer mu.Unlock()
			deletes++
		},
	})

	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	go informer.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		fmt.Println("informer: FAILED to sync")
		os.Exit(1)
	}
	fmt.Println("informer: synced,", len(informer.GetStore().ListKeys()), "objects")

	// inSync: the store matches a fresh List (retried for 5 s: the informer may trail a window).
	inSync := func() (bool, string) {
		var why string
		for attempt := 0; attempt < 10; attempt++ {
			list, err := pods.List(context.Background(), metav1.ListOptions{})
			if err != nil {
				why = "list: " + err.Error()
			} else {
				want := map[string]string{}
				for i := range list.Items {
					p := &list.Items[i]
					want[p.Namespace+"/"+p.Name] = summary(p)
				}
				got := map[string]string{}
				for _, o := range informer.GetStore().List() {
					p := o.(*metricsv1beta1.PodMetrics)
					got[p.Namespace+"/"+p.Name] = summary(p)
				}
				why = ""
				for k, v := range want {
					if got[k] != v {
						why += fmt.Sprintf(" %s: store %q, list %q;", k, got[k], v)
					}
				}
				for k := range got {
					if _, ok := want[k]; !ok {
						why += fmt.Sprintf(" %s only in the store;", k)
					}
				}
				if why == "" {
					return true, fmt.Sprintf("%d objects at list resourceVersion %s", len(want),
						list.ResourceVersion)
				}
			}
			time.Sleep(500 * time.Millisecond)
		}
		return false, why
	}

	ok, syncedAfterRestart := false, false
	ticker := time.NewTicker(*checkEvery)
	defer ticker.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-ticker.C:
			var detail string
			ok, detail = inSync()
			mu.Lock()
			back := wentBack
			mu.Unlock()
			if ok && back > 0 {
				syncedAfterRestart = true
			}
			fmt.Printf("informer: check: in sync=%v (%s)\n", ok, detail)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	rvs := []int{}
	for rv := range windows {
		rvs = append(rvs, rv)
	}
	sort.Ints(rvs)
	fmt.Printf("informer: %d adds, %d updates, %d deletes; updates from %d windows %v; "+
		"resourceVersion went back %d times\n", adds, updates, deletes, len(rvs), rvs, wentBack)
	pass := ok && len(rvs) >= *minWindows && (!*expectRestart || (wentBack > 0 && syncedAfterRestart))
	fmt.Printf("informer: in sync at the end=%v, synced after a restart=%v: pass=%v\n", ok,
		syncedAfterRestart, pass)
	if !pass {
		os.Exit(1)
	}
}
