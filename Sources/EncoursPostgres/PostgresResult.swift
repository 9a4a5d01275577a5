import CLibPQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The rows of one statement's result, read in text format.
///
/// Owns the libpq result and frees it when released; not `Sendable` (decode rows into your own types).
public final class PostgresResult {
    private let result: OpaquePointer

    init(_ result: OpaquePointer) { self.result = result }
    deinit { PQclear(result) }

    /// Number of rows returned.
    public var count: Int { Int(PQntuples(result)) }
    /// Number of columns.
    public var columnCount: Int { Int(PQnfields(result)) }
    /// Rows touched by an INSERT/UPDATE/DELETE/COPY (0 when not applicable).
    public var affectedRows: Int { Int(String(cString: PQcmdTuples(result))) ?? 0 }

    /// Column names in order.
    public var columns: [String] { (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) } }

    /// The index of a column by name; nil when absent.
    public func columnIndex(_ name: String) -> Int? {
        let index = Int(PQfnumber(result, name))
        return index >= 0 ? index : nil
    }

    /// The text of a cell, or nil when it is NULL.
    public func text(row: Int, column: Int) -> String? {
        if PQgetisnull(result, Int32(row), Int32(column)) == 1 { return nil }
        return String(cString: PQgetvalue(result, Int32(row), Int32(column)))
    }

    /// True when a cell holds the same text as the cell of `otherRow` in the same column (two NULLs
    /// are the same); compares the bytes in place, without making strings.
    public func sameText(row: Int, otherRow: Int, column: Int) -> Bool {
        let (first, second, field) = (Int32(row), Int32(otherRow), Int32(column))
        let firstNull = PQgetisnull(result, first, field) == 1
        guard firstNull == (PQgetisnull(result, second, field) == 1) else { return false }
        if firstNull { return true }
        let length = PQgetlength(result, first, field)
        guard length == PQgetlength(result, second, field) else { return false }
        return memcmp(PQgetvalue(result, first, field), PQgetvalue(result, second, field), Int(length)) == 0
    }

    /// Decodes a cell; throws a decoding error naming the column and value when it does not fit.
    public func decode<T: PostgresDecodable>(_ type: T.Type, row: Int, column: Int) throws -> T {
        guard let text = text(row: row, column: column) else {
            throw PostgresError(code: .decoding, message: "column \(columnName(column)) is NULL, expected \(T.self)")
        }
        guard let value = T(postgresText: text) else {
            throw PostgresError(code: .decoding, message: "column \(columnName(column)) value \"\(text)\" is not a valid \(T.self)")
        }
        return value
    }

    /// Decodes a nullable cell.
    public func decode<T: PostgresDecodable>(_ type: T?.Type, row: Int, column: Int) throws -> T? {
        guard text(row: row, column: column) != nil else { return nil }
        return try decode(T.self, row: row, column: column)
    }

    /// The rows, each readable by column name or index.
    public var rows: [PostgresRow] { (0..<count).map { PostgresRow(result: self, index: $0) } }

    /// The first row, if any.
    public var first: PostgresRow? { count > 0 ? PostgresRow(result: self, index: 0) : nil }

    private func columnName(_ column: Int) -> String { String(cString: PQfname(result, Int32(column))) }
}

/// One row of a ``PostgresResult``.
public struct PostgresRow {
    /// The result this row belongs to.
    public let result: PostgresResult
    public let index: Int

    /// Decodes the named column.
    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try result.decode(T.self, row: index, column: columnIndex(column))
    }

    /// Decodes the named nullable column.
    public func decode<T: PostgresDecodable>(_ column: String, as type: T?.Type = T?.self) throws -> T? {
        try result.decode(T?.self, row: index, column: columnIndex(column))
    }

    /// Decodes the column at `column`.
    public func decode<T: PostgresDecodable>(_ column: Int, as type: T.Type = T.self) throws -> T {
        try result.decode(T.self, row: index, column: column)
    }

    /// Decodes the nullable column at `column`.
    public func decode<T: PostgresDecodable>(_ column: Int, as type: T?.Type = T?.self) throws -> T? {
        try result.decode(T?.self, row: index, column: column)
    }

    /// The raw text of the named column (nil for NULL).
    public subscript(_ column: String) -> String? {
        guard let position = result.columnIndex(column) else { return nil }
        return result.text(row: index, column: position)
    }

    /// The raw text of the column at `column` (nil for NULL).
    public subscript(_ column: Int) -> String? {
        result.text(row: index, column: column)
    }

    private func columnIndex(_ name: String) throws -> Int {
        guard let position = result.columnIndex(name) else {
            throw PostgresError(code: .decoding, message: "no column named \(name) in the result")
        }
        return position
    }
}
