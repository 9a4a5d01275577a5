import EncoursDelivery
import Testing

@Suite struct SMTPConfigurationTests {
    @Test func aFullURLIsParsedAndDecoded() throws {
        let configuration = try SMTPConfiguration(
            url: "smtp://mailer%40encours:p%40ss%3Aw%2Ford@smtp.example.com:587/encours.example?starttls=required&timeout=2.5&insecure=1&cacert=/etc/ca.pem")
        #expect(configuration.host == "smtp.example.com")
        #expect(configuration.port == 587)
        #expect(configuration.user == "mailer@encours")
        #expect(configuration.password == "p@ss:w/ord")
        #expect(configuration.security == .startTLSRequired)
        #expect(configuration.timeout == .milliseconds(2500))
        #expect(configuration.insecure)
        #expect(configuration.certificateAuthorityFile == "/etc/ca.pem")
        #expect(configuration.heloDomain == "encours.example")
    }

    @Test func defaultsDependOnSchemeAndCredentials() throws {
        let plain = try SMTPConfiguration(url: "smtp://localhost")
        #expect(plain.port == 25)
        #expect(plain.security == .startTLSOptional)
        #expect(plain.timeout == .seconds(30))
        #expect(!plain.insecure)
        #expect(try SMTPConfiguration(url: "smtp://u:p@localhost").security == .startTLSRequired)
        #expect(try SMTPConfiguration(url: "smtp://u:p@localhost?starttls=never").security == .plain)
        let implicit = try SMTPConfiguration(url: "SMTPS://[::1]")
        #expect(implicit.security == .implicitTLS)
        #expect(implicit.port == 465)
        #expect(implicit.host == "::1")
    }

    @Test func thePasswordIsNeverShown() throws {
        let configuration = try SMTPConfiguration(url: "smtp://mailer:s3cr%C3%A9t-password@smtp.example.com:587")
        #expect(configuration.description == "smtp://mailer:***@smtp.example.com:587?starttls=required")
        var dumped = ""
        dump(configuration, to: &dumped)
        #expect(!dumped.contains("s3cr"))
        #expect(dumped.contains("mailer"))
        #expect(!"\(configuration)".contains("s3cr"))
    }

    @Test(arguments: [
        "http://smtp.example.com", "smtp.example.com", "smtp://", "smtp://host:0", "smtp://host:99999", "smtp://host:abc",
        "smtp://host?starttls=maybe", "smtps://host?starttls=required", "smtp://host?tls=1", "smtp://ho st",
        "smtp://host#fragment", "smtp://:password@host", "smtp://u:p%zz@host", "smtp://host?timeout=-1",
    ])
    func malformedURLsAreRefused(url: String) {
        let error = #expect(throws: DeliveryError.self) { try SMTPConfiguration(url: url) }
        #expect(error?.code == .permanent)
        #expect(error?.message.hasPrefix("malformed SMTP URL") == true)
    }
}
