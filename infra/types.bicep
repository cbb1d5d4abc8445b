// Shared user-defined types for the infra modules (the linter's use-user-defined-types
// rule, turned on in bicepconfig.json, forbids untyped `object`/`array` parameters).

@export()
@description('Resource tags: string values only, as Azure Resource Manager requires.')
type tagsType = {
  *: string
}
