import Foundation

// Writes a Swift file declaring every migration given on the command line:
// usage: EmbedMigrationsTool OUTPUT.swift FILE.sql...
let arguments = CommandLine.arguments.dropFirst()
guard let outputPath = arguments.first else {
    FileHandle.standardError.write(Data("usage: EmbedMigrationsTool OUTPUT.swift FILE.sql...\n".utf8))
    exit(2)
}
var source = "// Generated from sql/migrations at build time; do not edit.\n"
source += "let embeddedMigrationFiles: [(name: String, sql: String)] = [\n"
for path in arguments.dropFirst() {
    let url = URL(fileURLWithPath: path)
    guard let text = try? String(contentsOf: url, encoding: .utf8) else {
        FileHandle.standardError.write(Data("error: cannot read \(path) as UTF-8\n".utf8))
        exit(1)
    }
    // A raw string with enough #s that no sequence in the SQL can close it.
    var hashes = "#"
    while text.contains("\"" + hashes) { hashes += "#" }
    source += "    (name: \"\(url.lastPathComponent)\", sql: \(hashes)\"\"\"\n\(text)\n\"\"\"\(hashes)),\n"
}
source += "]\n"
do {
    try source.write(toFile: outputPath, atomically: true, encoding: .utf8)
} catch {
    FileHandle.standardError.write(Data("error: cannot write \(outputPath): \(error)\n".utf8))
    exit(1)
}
