from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .selectors import memberships_of


class MembershipSerializer(serializers.Serializer):
    school = serializers.CharField(source="school.code")
    school_name = serializers.CharField(source="school.name")
    role = serializers.CharField()


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField(source="get_full_name")
    roles = MembershipSerializer(many=True)


class MeApi(APIView):
    """Who the caller is and their roles per school."""

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        user = request.user
        data = {
            "username": user.username,
            "get_full_name": user.get_full_name(),
            "roles": memberships_of(user),
        }
        return Response(MeSerializer(data).data)
