//! Storage: the only module with SQL. SQLite (default) and PostgreSQL behind one interface.
