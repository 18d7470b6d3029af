//! End-to-end tests: real `hypersearch` processes over real gRPC and SQLite.
