using System.Collections.Immutable;
using System.Text.Json.Serialization;

namespace OciKit.Build;

/// <summary>
/// Source-generated JSON for the build's string lists (history lines): the same bytes as the
/// reflection-based serializer, but without reflection, so an application using OciKit (the <c>ocikit</c> CLI) can be
/// compiled ahead of time without trimming warnings.
/// </summary>
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(ImmutableArray<string>))]
internal sealed partial class BuildJson : JsonSerializerContext;
