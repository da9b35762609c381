"""Archive: storage back ends, encryption, the archive job, retention and backfill."""
