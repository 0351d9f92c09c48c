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
}
