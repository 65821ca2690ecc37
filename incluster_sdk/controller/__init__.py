"""Controllers: a rate-limited work queue (client-go ``util/workqueue`` semantics) and a reconcile loop on informers."""
