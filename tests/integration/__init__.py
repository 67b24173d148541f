"""The integration tier: flows on the embedded AWS (boto3 against moto as local.aws
makes it behave), where conditions, transactions, indexes and SQS answer as AWS does."""
