"""openclaw-tenants-isolation: the policy pack that blocks any preview or update breaking tenant isolation.

Run it with `pulumi preview --policy-pack policy` (or `pulumi up --policy-pack policy`); the rules are
plain functions in `rules.py`, which the engine finds because it runs this directory as the program.
"""

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from rules import RESOURCE_RULES, STACK_RULES, ResourceRule, StackResource, StackRule

PACK_NAME = "openclaw-tenants-isolation"


def resource_policy(rule: ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule.check(args.resource_type, args.props):
            report_violation(message, None)

    return ResourceValidationPolicy(name=rule.name, description=rule.description, validate=validate)


def stack_policy(rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [StackResource(r.resource_type, r.props, r.urn) for r in args.resources]
        for violation in rule.check(resources):
            report_violation(violation.message, violation.urn)

    return StackValidationPolicy(name=rule.name, description=rule.description, validate=validate)


POLICIES = [*map(resource_policy, RESOURCE_RULES), *map(stack_policy, STACK_RULES)]

# The engine runs this directory with run_name "__main__"; PolicyPack serves the policies until the
# engine is done. Importing the module (as the tests do) builds the policies without serving them.
if __name__ == "__main__":
    PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
