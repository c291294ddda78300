//! Salesforce two-way sync against the stateful fake org written from Salesforce's documentation:
//! loads, outages and limits, write-back and Tasks, connect flows, signed webhooks, the package.
mod connect;
mod outages;
mod package;
mod sync;
mod webhooks;
mod writeback;
