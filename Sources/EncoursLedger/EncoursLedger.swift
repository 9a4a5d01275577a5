/// Receivables rules and CSV import parsing; pure Swift, no I/O beyond the streams it is given.
public enum EncoursLedger {}
