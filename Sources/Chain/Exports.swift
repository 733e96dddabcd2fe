// Chain's API is written in the primitives' types (targets, compact bits, 256-bit numbers, errors):
// importing Chain brings them along.
@_exported import BitcoinPrimitives
