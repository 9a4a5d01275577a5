import EncoursDelivery
import EncoursTestSupport
import Foundation
import Testing

@Suite struct LetterWriterTests {
    @Test func aLetterIsWrittenIntoANewDirectory() async throws {
        try await TestServers.withTemporaryDirectory { root in
            let outbox = root.appending(path: "outbox/tenant-7").path
            let writer = LetterWriter(directory: outbox)
            let path = try writer.write(html: frenchHTML, fileName: "reminder-42.html")
            #expect(path == outbox + "/reminder-42.html")
            #expect(try String(contentsOfFile: path, encoding: .utf8) == frenchHTML)
            #expect(try FileManager.default.contentsOfDirectory(atPath: outbox) == ["reminder-42.html"])
        }
    }

    @Test func theSameNameIsOverwritten() async throws {
        try await TestServers.withTemporaryDirectory { root in
            let writer = LetterWriter(directory: root.path)
            try writer.write(html: "<p>first, longer version</p>", fileName: "letter_7-42.v1.html")
            let path = try writer.write(html: "<p>second</p>", fileName: "letter_7-42.v1.html")
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "<p>second</p>")
            #expect(try FileManager.default.contentsOfDirectory(atPath: root.path) == ["letter_7-42.v1.html"])
        }
    }

    @Test(arguments: ["", "../escape.html", "a/b.html", "/etc/passwd", ".hidden.html", "a..b.html", "..", ".", "lettre é.html", "a b.html", "a\nb.html", String(repeating: "a", count: 201)])
    func badNamesAreRefused(name: String) async throws {
        try await TestServers.withTemporaryDirectory { root in
            let outbox = root.appending(path: "outbox").path
            let error = #expect(throws: DeliveryError.self) {
                try LetterWriter(directory: outbox).write(html: "<p>x</p>", fileName: name)
            }
            #expect(error?.code == .invalidMessage)
            #expect(!FileManager.default.fileExists(atPath: outbox))
            let contents = try FileManager.default.contentsOfDirectory(atPath: root.path)
            #expect(contents.isEmpty)
        }
    }

    @Test func anUnusableDirectoryIsTemporary() async throws {
        try await TestServers.withTemporaryDirectory { root in
            let file = root.appending(path: "not-a-directory")
            try Data("x".utf8).write(to: file)
            let error = #expect(throws: DeliveryError.self) {
                try LetterWriter(directory: file.path).write(html: "<p>x</p>", fileName: "letter.html")
            }
            #expect(error?.code == .temporary)
            #expect(error?.message.contains(file.path) == true)
        }
    }
}
