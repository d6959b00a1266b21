//! Alert notifications.
