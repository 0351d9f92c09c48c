namespace OciKit.Publish;

/// <summary>
/// Which image layer a published file goes to. Layers are stacked in this order, so the parts that change least
/// sit lowest and a code change rebuilds (and re-pushes) only the small <see cref="App"/> layer.
/// </summary>
public enum PublishLayerKind
{
    /// <summary>The .NET runtime itself (runtime-pack assets of a self-contained publish).</summary>
    Runtime = 0,

    /// <summary>Runtime assets of third-party NuGet packages.</summary>
    Packages = 1,

    /// <summary>Outputs of project references.</summary>
    ProjectReferences = 2,

    /// <summary>The project's own files (its assembly, app host, configuration, content).</summary>
    App = 3,
}

/// <summary>One file of a publish output and the layer it belongs to.</summary>
/// <param name="SourcePath">The file on disk.</param>
/// <param name="RelativePath">Its path below the publish directory (and the image's working directory), with <c>/</c> separators.</param>
/// <param name="Kind">The layer it goes to.</param>
public sealed record PublishedFile(string SourcePath, string RelativePath, PublishLayerKind Kind);

/// <summary>
/// What MSBuild knows about one published file (the metadata of a <c>ResolvedFileToPublish</c> item), enough to
/// choose its layer with <see cref="Classify"/>.
/// </summary>
/// <param name="RelativePath">Its path below the publish directory.</param>
/// <param name="NuGetPackageId">The <c>NuGetPackageId</c> metadata: the package the file comes from, if any.</param>
/// <param name="ReferenceSourceTarget">The <c>ReferenceSourceTarget</c> metadata (<c>ProjectReference</c> for project outputs).</param>
/// <param name="SourceProjectFile">The <c>MSBuildSourceProjectFile</c> metadata, set on project-reference outputs.</param>
public sealed record PublishedFileOrigin(string RelativePath, string? NuGetPackageId = null, string? ReferenceSourceTarget = null, string? SourceProjectFile = null)
{
    /// <summary>Chooses the layer of a file from where it comes from.</summary>
    /// <returns>
    /// <see cref="PublishLayerKind.Runtime"/> for a runtime pack (<c>Microsoft.*.App.Runtime.*</c>),
    /// <see cref="PublishLayerKind.Packages"/> for any other package, <see cref="PublishLayerKind.ProjectReferences"/>
    /// for a project reference's output, otherwise <see cref="PublishLayerKind.App"/>.
    /// </returns>
    public PublishLayerKind Classify()
    {
        if (!string.IsNullOrEmpty(NuGetPackageId))
        {
            // Runtime packs are named Microsoft.NETCore.App.Runtime.<rid>, Microsoft.AspNetCore.App.Runtime.<rid>, ...
            return NuGetPackageId.StartsWith("Microsoft.", StringComparison.OrdinalIgnoreCase)
                && NuGetPackageId.Contains(".App.Runtime.", StringComparison.OrdinalIgnoreCase)
                ? PublishLayerKind.Runtime
                : PublishLayerKind.Packages;
        }

        return string.Equals(ReferenceSourceTarget, "ProjectReference", StringComparison.OrdinalIgnoreCase) || !string.IsNullOrEmpty(SourceProjectFile)
            ? PublishLayerKind.ProjectReferences
            : PublishLayerKind.App;
    }
}
