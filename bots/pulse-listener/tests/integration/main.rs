//! End-to-end tests of the listener against the real RabbitMQ on 127.0.0.1:5672 (guest/guest),
//! the API harness (runs and event records in a real PostgreSQL) and a wiremock Taskcluster
//! (Queue listings, hooks) that also serves the pushlog. Every test uses exchanges, queues and a
//! connection name of its own, so tests run in parallel.

mod delivery;
mod harness;
mod reconnect;
mod risk_run;
mod rules;
