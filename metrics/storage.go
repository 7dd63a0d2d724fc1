package metrics

import "github.com/prometheus/client_golang/prometheus"

// StorageStats is what the storage collector reads; storage.Bolt offers it
// through a small adapter in cmd.
type StorageStats struct {
	Commits, Writes uint64 // group commits and the writes they carried
	ReadTx          int    // read transactions started
	OpenReadTx      int    // read transactions open now
	FreePages       int
}

// StorageCollector exports storage counters when scraped.
type StorageCollector struct {
	stats func() StorageStats
	descs [5]*prometheus.Desc
}

// NewStorageCollector reads stats at every scrape.
func NewStorageCollector(stats func() StorageStats) *StorageCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "storage", name), help, nil, nil)
	}
	return &StorageCollector{stats: stats, descs: [5]*prometheus.Desc{
		d("commits_total", "Write transactions committed (bbolt syncs each twice: data, then meta page)."),
		d("writes_total", "Writes carried by those commits (group commit: writes/commits is the batch size)."),
		d("read_tx_total", "Read transactions started."),
		d("open_read_tx", "Read transactions open now."),
		d("free_pages", "Free pages in the database file."),
	}}
}

// Describe implements prometheus.Collector.
func (c *StorageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *StorageCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(c.descs[0], prometheus.CounterValue, float64(s.Commits))
	ch <- prometheus.MustNewConstMetric(c.descs[1], prometheus.CounterValue, float64(s.Writes))
	ch <- prometheus.MustNewConstMetric(c.descs[2], prometheus.CounterValue, float64(s.ReadTx))
	ch <- prometheus.MustNewConstMetric(c.descs[3], prometheus.GaugeValue, float64(s.OpenReadTx))
	ch <- prometheus.MustNewConstMetric(c.descs[4], prometheus.GaugeValue, float64(s.FreePages))
}
