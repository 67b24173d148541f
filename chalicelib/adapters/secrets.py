"""App secrets in SSM Parameter Store (SecureString), cached briefly per container."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SSMProvider

from chalicelib.ports import MissingSecret


class Secrets:
    def __init__(self, ssm_client: Any, prefix: str, max_age_s: int) -> None:
        self.ssm_client = ssm_client
        self.prefix = prefix
        self.max_age_s = max_age_s
        self._provider: SSMProvider | None = None

    def name(self, app_id: str, secret: str) -> str:
        return f"{self.prefix}/{app_id}/{secret}"

    def get(self, app_id: str, secret: str) -> str:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = self.provider().get(
                self.name(app_id, secret), decrypt=True, max_age=self.max_age_s
            )
        except GetParameterError as error:
            raise MissingSecret(f"{secret} of app {app_id} is not configured") from error
        return str(value)

    def put(self, app_id: str, secret: str, value: str) -> None:
        self.ssm_client.put_parameter(
            Name=self.name(app_id, secret), Value=value, Type="SecureString", Overwrite=True
        )
        self.provider().clear_cache()

    def provider(self) -> SSMProvider:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SSMProvider

            self._provider = SSMProvider(boto3_client=self.ssm_client)
        return self._provider
