// The read roles the aifinops managed identity needs for the Azure sources, on the whole subscription.
// Narrow them where you can (README.md): Storage Blob Data Reader on the exports' storage account, Log Analytics
// Reader on the workspaces, Monitoring Reader on the Azure OpenAI accounts.
targetScope = 'subscription'

@description('The managed identity\'s principal (object) id.')
param principalId string

// Built-in role definition ids (the same in every Azure tenant).
var roles = {
  'Cost Management Reader': '72fafb9e-0641-4937-9268-a91bfd8191a3'
  'Monitoring Reader': '43d0d8ad-25c7-4714-9337-8ba259a9fe05'
  Reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
  'Log Analytics Reader': '73c42c96-874c-492b-b04d-ab87d138a893'
  'Storage Blob Data Reader': '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in items(roles): {
  name: guid(subscription().id, principalId, role.value)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'aifinops: ${role.key}'
  }
}]
