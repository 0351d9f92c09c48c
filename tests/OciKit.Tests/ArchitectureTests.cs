using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace OciKit.Tests;

/// <summary>
/// The library's namespaces follow the data flow; a lower namespace never references a higher one
/// (the idea of go-containerregistry's depcheck tests).
/// </summary>
public class ArchitectureTests
{
    // Lower rank = lower layer. A type may only use types of its own or a lower rank.
    private static readonly Dictionary<string, int> Rank = new(StringComparer.Ordinal)
    {
        ["OciKit"] = 0,
        ["OciKit.Primitives"] = 0,
        ["OciKit.Dockerfile"] = 1,
        ["OciKit.References"] = 1,
        ["OciKit.Layers"] = 2,
        ["OciKit.Images"] = 3,
        ["OciKit.Auth"] = 3,
        ["OciKit.Layout"] = 4,
        ["OciKit.Registry"] = 5,
        ["OciKit.Build"] = 6,
        ["OciKit.Publish"] = 6,
    };

    [Fact]
    public void Lower_namespaces_never_reference_higher_ones()
    {
        var assembly = typeof(OciException).Assembly;
        using var stream = File.OpenRead(assembly.Location);
        using var pe = new PEReader(stream);
        var md = pe.GetMetadataReader();

        // Namespaces referenced by each type are approximated by the type references its methods' bodies and
        // signatures resolve to within this assembly: check every type definition's member signatures and base types.
        var violations = new List<string>();
        foreach (var type in assembly.GetTypes())
        {
            var from = TopNamespace(type.Namespace);
            if (from is null || !Rank.TryGetValue(from, out var fromRank))
            {
                continue;
            }

            foreach (var used in ReferencedTypes(type))
            {
                var to = TopNamespace(used.Namespace);
                if (used.Assembly == assembly && to is not null && Rank.TryGetValue(to, out var toRank) && toRank > fromRank)
                {
                    violations.Add($"{type.FullName} ({from}) uses {used.FullName} ({to})");
                }
            }
        }

        Assert.True(md.TypeDefinitions.Count > 0);
        Assert.Empty(violations.Distinct());
    }

    private static string? TopNamespace(string? ns)
    {
        if (ns is null || !ns.StartsWith("OciKit", StringComparison.Ordinal))
        {
            return null;
        }

        var parts = ns.Split('.');
        return parts.Length == 1 ? "OciKit" : parts[0] + "." + parts[1];
    }

    private static IEnumerable<Type> ReferencedTypes(Type type)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        if (type.BaseType is not null)
        {
            yield return type.BaseType;
        }

        foreach (var i in type.GetInterfaces())
        {
            yield return i;
        }

        foreach (var f in type.GetFields(all))
        {
            yield return Unwrap(f.FieldType);
        }

        foreach (var p in type.GetProperties(all))
        {
            yield return Unwrap(p.PropertyType);
        }

        foreach (var m in type.GetMethods(all))
        {
            yield return Unwrap(m.ReturnType);
            foreach (var p in m.GetParameters())
            {
                yield return Unwrap(p.ParameterType);
            }

            var body = m.GetMethodBody();
            if (body is null)
            {
                continue;
            }

            foreach (var local in body.LocalVariables)
            {
                yield return Unwrap(local.LocalType);
            }
        }

        foreach (var c in type.GetConstructors(all))
        {
            foreach (var p in c.GetParameters())
            {
                yield return Unwrap(p.ParameterType);
            }
        }
    }

    private static Type Unwrap(Type t)
    {
        while (t.HasElementType)
        {
            t = t.GetElementType()!;
        }

        return t.IsGenericType && !t.IsGenericTypeDefinition ? t.GetGenericTypeDefinition() : t;
    }
}
