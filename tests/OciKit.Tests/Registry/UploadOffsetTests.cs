using OciKit.Registry;

namespace OciKit.Tests.Registry;

public class UploadOffsetTests
{
    [Theory]
    [InlineData("0--1", 0L)]
    [InlineData("0-0", 0L)]
    [InlineData("0-2", 3L)]
    [InlineData("0-16383", 16384L)]
    [InlineData("bytes=0-99", 100L)]
    public void Resumes_after_the_last_byte_received(string range, long offset)
        => Assert.Equal(offset, RegistryClient.ParseUploadOffset(range));

    [Theory]
    [InlineData("")]
    [InlineData("5-10")]
    [InlineData("0-")]
    [InlineData("garbage")]
    [InlineData("0--2")]
    public void Rejects_ranges_it_cannot_trust(string range) => Assert.Null(RegistryClient.ParseUploadOffset(range));

    [Theory]
    [InlineData(202, "0-16383", 16384L)]
    [InlineData(202, "0-0", 0L)]
    [InlineData(202, "0-32767", 32768L)]
    public void A_202_acknowledges_the_bytes_its_range_names(int status, string range, long held)
        => Assert.Equal(held, RegistryClient.AcknowledgedOffset((System.Net.HttpStatusCode)status, range));

    [Theory]
    [InlineData(200, null)] // what HttpListener's Abort() sends on Linux: a 200 nobody stored anything for
    [InlineData(200, "0-16383")]
    [InlineData(204, "0-16383")]
    [InlineData(202, null)]
    [InlineData(202, "garbage")]
    public void Any_other_answer_to_a_chunk_acknowledges_nothing(int status, string? range)
        => Assert.Null(RegistryClient.AcknowledgedOffset((System.Net.HttpStatusCode)status, range));
}
