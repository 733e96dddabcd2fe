// Shared helpers (FakeLoad, TestClock, scratch directories, eventually, readLines) live in TestSupport.
@_exported import TestSupport
