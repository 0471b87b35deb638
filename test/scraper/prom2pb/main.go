// Converts a Prometheus text exposition on stdin into the delimited protobuf exposition on
// stdout, with the encoder a kubelet's promhttp handler uses when it negotiates protobuf
// (expfmt.NewEncoder with the delimited format). It made the seeds of
// test/fuzz/corpus/kubelet_protobuf from those of test/fuzz/corpus/kubelet_text:
//
//	cd test/scraper/prom2pb &&
//	  go run . < ../../fuzz/corpus/kubelet_text/NAME.txt > ../../fuzz/corpus/kubelet_protobuf/NAME.pb
//
// Histograms and summaries aside, test/testing/exposition_protobuf.h writes the same bytes
// (resource_metrics_protobuf_test checks it on these seeds).
package main

import (
	"bufio"
	"os"
	"sort"

	"github.com/prometheus/common/expfmt"
)

func main() {
	parser := expfmt.TextParser{}
	families, err := parser.TextToMetricFamilies(os.Stdin)
	if err != nil {
		panic(err)
	}
	names := make([]string, 0, len(families))
	for name := range families {
		names = append(names, name)
	}
	sort.Strings(names) // as prometheus.Registry.Gather orders them
	w := bufio.NewWriter(os.Stdout)
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, name := range names {
		if err := enc.Encode(families[name]); err != nil {
			panic(err)
		}
	}
	if err := w.Flush(); err != nil {
		panic(err)
	}
}
